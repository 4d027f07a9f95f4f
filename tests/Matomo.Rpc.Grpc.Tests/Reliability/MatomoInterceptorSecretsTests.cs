using Grpc.Core;
using Matomo.Rpc.Grpc.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>The token never shows: not in a log line at any level, an exception message, or a URL Matomo received.</summary>
public sealed class MatomoInterceptorSecretsTests
{
    private static readonly TimeSpan Timeout = ReliabilityHost.Timeout;

    [Test]
    public async Task TokenAuth_OutageHostileInputAndErrorAnswers_NeverInLogsExceptionsOrUrls()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        var token = matomo.Token;
        var capture = new CapturingLoggerProvider();
        var exceptions = new List<string>();
        await using var host = await ReliabilityHost.StartAsync(matomo, o => o.TokenAuth = token, capture);
        var tracker = host.Tracker();
        var seq = 0;

        async Task CallsAsync(int count, Metadata? extra = null)
        {
            for (var i = 0; i < count; i++)
            {
                try
                {
                    await host.CallAsync("secret", seq++, extra);
                }
                catch (RpcException ex)
                {
                    exceptions.Add(ex.ToString());
                }
            }
        }

        async Task SettledAsync(int calls) =>
            await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= calls, Timeout, () => tracker.Statistics.ToString());

        await CallsAsync(5);
        await SettledAsync(5);
        await matomo.StopAsync().WaitAsync(Timeout);
        await CallsAsync(5);
        await Eventually.TrueAsync(() => tracker.Statistics.Retried >= 2, Timeout, () => tracker.Statistics.ToString());
        await matomo.RestartAsync().WaitAsync(Timeout);
        await SettledAsync(10);
        matomo.FailWith = 401;
        await CallsAsync(5);
        await SettledAsync(15);
        matomo.FailWith = 500;
        await CallsAsync(5);
        await SettledAsync(20);
        matomo.FailWith = null;
        // Service code handing the token to the per-call API: refused, and the refusal does not repeat it.
        await CallsAsync(1, new Metadata { { ServiceCodeInterceptor.VarPrefix + "token_auth", token }, { ServiceCodeInterceptor.VarPrefix + "cid", token } });
        await CallsAsync(3, new Metadata { { "user-agent", token[..8] + "-ua" }, { ServiceCodeInterceptor.HostileSeed, "7" } });
        await SettledAsync(24);
        var call = tracker.StartCall("greet.Greeter/Direct", MatomoCallKind.Unary)!.Call;
        foreach (var name in new[] { "token_auth", "cid", "_id", "pf_srv", "cip", "cdt" })
        {
            try
            {
                call.SetVar(name, token);
            }
            catch (ArgumentException ex)
            {
                exceptions.Add(ex.ToString());
            }
        }

        call.Skip();
        await host.App.StopAsync().WaitAsync(Timeout);

        var stats = tracker.Statistics;
        var refusals = host.Services.GetRequiredService<ServiceCodeRefusals>().Exceptions;
        exceptions.AddRange(refusals.Select(e => e.ToString()));
        var logs = capture.Entries;
        TestContext.Out.WriteLine($"secrets: calls=24 stored={matomo.Hits.Count} sent={stats.Sent} rejected={stats.Rejected} dropped={stats.Dropped} logs={logs.Count} exceptions={exceptions.Count} requests={matomo.Requests.Count}");
        Assert.That(stats.Rejected, Is.EqualTo(5), "the 401 answers were seen");
        Assert.That(stats.Dropped, Is.EqualTo(5), "the 500 answers were seen");
        Assert.That(refusals, Has.Count.EqualTo(2));
        Assert.That(exceptions, Has.Count.EqualTo(8));
        Assert.That(logs.Count(l => l.Level == LogLevel.Trace), Is.GreaterThan(0), "trace logging was captured");
        Assert.That(logs.Where(l => l.Contains(token)).Select(l => l.Category + ": " + l.Text), Is.Empty);
        Assert.That(exceptions.Where(e => e.Contains(token, StringComparison.OrdinalIgnoreCase)), Is.Empty);
        Assert.That(matomo.Requests.Where(r => r.TokenInUrl || (r.Path + r.QueryString).Contains(token, StringComparison.OrdinalIgnoreCase)), Is.Empty);
        Assert.That(matomo.Hits.Where(h => h.Query.Contains(token, StringComparison.OrdinalIgnoreCase) && !h.Query.Contains("-ua", StringComparison.Ordinal)), Is.Empty);
        Assert.That(matomo.Hits.Count(h => h.Has("cip")), Is.EqualTo(matomo.Hits.Count).And.EqualTo(14), "the token was used (cip needs it)");
    }

    [TestCase("http://127.0.0.1:1/matomo.php?token_auth={0}", "{0}")]
    [TestCase("http://user:{0}@127.0.0.1:1/matomo.php", "{0}")]
    [TestCase("http://matomo.example.org/matomo.php", "{0}")]
    [TestCase("http://127.0.0.1:1/matomo.php", " {0} ")]
    [TestCase("http://127.0.0.1:1/matomo.php", "{0}\n")]
    public async Task StartAsync_InvalidOptionsWithToken_FailsValidationWithoutTheToken(string trackerUrl, string tokenAuth)
    {
        const string Token = "c0ffee0123456789abcdef0123456789";
        var capture = new CapturingLoggerProvider();
        string? failure = null;

        try
        {
            await using var host = await GrpcTestHost.StartAsync(services =>
            {
                services.AddLogging(logging => logging.AddProvider(capture).SetMinimumLevel(LogLevel.Trace));
                services.AddMatomoTracking(o =>
                {
                    o.TrackerUrl = string.Format(System.Globalization.CultureInfo.InvariantCulture, trackerUrl, Token);
                    o.SiteId = 1;
                    o.TokenAuth = string.Format(System.Globalization.CultureInfo.InvariantCulture, tokenAuth, Token);
                });
                services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
            });
        }
        catch (Exception ex)
        {
            failure = ex.ToString();
        }

        Assert.That(failure, Is.Not.Null.And.Contains("Matomo:"), "validation failed at start, naming the setting");
        Assert.That(failure, Does.Not.Contain(Token));
        Assert.That(capture.Entries.Where(l => l.Contains(Token)).Select(l => l.Text), Is.Empty);
    }
}
