using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Matomo.Rpc.AspNetCore.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.AspNetCore.Tests.Reliability;

/// <summary>
/// The reliability suite's driver for the HTTP adapter: <see cref="HttpTestHost"/>; a call is <c>GET /seq/{caller}/{n}</c>,
/// whose endpoint records both as custom variables. Hostile input here is what an HTTP client controls: paths (escaped
/// bytes, 4 KB long), methods nobody knows, headers, and a header the <c>/echo</c> endpoint puts in its per-request values.
/// </summary>
public sealed class HttpReliabilityHost : ReliabilityHost, IReliabilityHostFactory
{
    private const int Seed = 20261130;
    private const int HostileCallers = 6;
    private const int HostilePerCaller = 25;
    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "BREW", "M-SEARCH", "get"];

    private readonly HttpTestHost _host;

    private HttpReliabilityHost(MatomoStandIn matomo, CapturingLoggerProvider logs, HttpTestHost host)
        : base(matomo, logs) => _host = host;

    public override MatomoTracker Tracker => _host.Tracker;

    public override string CallAction => "GET /seq/{caller}/{n:int}";

    public override string TrackingFailedEvent => "HttpTrackingFailed";

    public override string PoisonParameter => "dimension9";

    public static async Task<ReliabilityHost> StartAsync(MatomoStandIn matomo, ReliabilityScenario scenario, Action<MatomoOptions> configure, CapturingLoggerProvider logs, LogLevel minimumLevel)
    {
        var host = await HttpTestHost.StartAsync(matomo, o =>
        {
            o.Matomo = configure;
            if (scenario == ReliabilityScenario.HostileInput)
            {
                o.Configuration["Http:KeepQuery"] = "true";
            }
        }, logs, minimumLevel);
        return new HttpReliabilityHost(matomo, logs, host);
    }

    public override async Task<ClientCall> CallAsync(string caller, int sequence)
    {
        string? body = null;
        var call = await ClientCall.TimeAsync(caller, sequence, async () =>
            body = await _host.Client.GetStringAsync(new Uri(string.Create(CultureInfo.InvariantCulture, $"/seq/{caller}/{sequence}"), UriKind.Relative)));
        Assert.That(body, Is.EqualTo("ok"));
        return call;
    }

    public override async Task PoisonCallAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/echo/poison", UriKind.Relative));
        request.Headers.Add("x-hostile-var", "poison");
        using var response = await _host.Client.SendAsync(request);
        Assert.That((int)response.StatusCode, Is.EqualTo(200));
    }

    public override async Task<string> FailingCallAsync()
    {
        using var response = await _host.Client.GetAsync(new Uri("/crash", UriKind.Relative));
        Assert.That((int)response.StatusCode, Is.EqualTo(500), "the request failed");
        return $"{(int)response.StatusCode} {response.ReasonPhrase}: {response.Headers} {await response.Content.ReadAsStringAsync()}";
    }

    public override (string Caller, int Sequence) Key(StoredHit hit) =>
        (hit.CustomVariable("caller") ?? "?", int.Parse(hit.CustomVariable("seq") ?? "-1", CultureInfo.InvariantCulture));

    public override async Task<HostileRun> RunHostileCallersAsync()
    {
        var failures = new ConcurrentBag<string>();
        var statuses = new ConcurrentBag<int>();
        await Task.WhenAll(Enumerable.Range(0, HostileCallers).Select(async c =>
        {
            var text = new HostileText(Seed + c);
            var random = new Random(Seed + c);
            for (var i = 0; i < HostilePerCaller; i++)
            {
                var method = Methods[random.Next(Methods.Length)];
                var path = (random.Next(2) == 0 ? "/echo/" : "/nowhere/") + Path(random) + "?q=" + Uri.EscapeDataString(text.HeaderValue());
                using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative));
                foreach (var name in new[] { "User-Agent", "Accept-Language", "Referer", "x-hostile-var" })
                {
                    if (text.HeaderValue() is { Length: > 0 } value)
                    {
                        request.Headers.TryAddWithoutValidation(name, value);
                    }
                }

                try
                {
                    using var response = await _host.Client.SendAsync(request);
                    statuses.Add((int)response.StatusCode);
                    if ((int)response.StatusCode >= 500)
                    {
                        failures.Add($"{method} {path}: {(int)response.StatusCode}");
                    }
                }
                catch (Exception ex)
                {
                    failures.Add($"{method} {path}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        })).WaitAsync(Timeout);
        TestContext.Out.WriteLine("statuses: " + string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key}x{g.Count()}")));

        // Kestrel answers requests it refuses (a NUL in the path, a request line over 8 KB: 400, 414) itself: those never
        // reach the app, which is not this suite's business. Every request that reached the app is a hit; every one of
        // them has completed once the client has all answers.
        await Eventually.TrueAsync(() => _host.Completed.Paths.Count == statuses.Count(s => s is not (400 or 414 or 431)), Timeout, () => $"{_host.Completed.Paths.Count} completed; answers: " + string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key}x{g.Count()}")));
        return new HostileRun(HostileCallers * HostilePerCaller, _host.Completed.Paths.Count, failures);
    }

    public override Task AssertHostileOutcomeAsync(HostileRun run, IReadOnlyList<StoredHit> hits)
    {
        Assert.That(run.ExpectedHits, Is.GreaterThan(run.Calls / 2), "most hostile requests reached the app");
        Assert.That(hits.Select(h => h["action_name"]).Distinct(), Is.SubsetOf(new[]
        {
            "GET /echo/{**rest}", "POST /echo/{**rest}", "PUT /echo/{**rest}", "DELETE /echo/{**rest}", "PATCH /echo/{**rest}", "OTHER /echo/{**rest}",
            "GET (unmatched)", "POST (unmatched)", "PUT (unmatched)", "DELETE (unmatched)", "PATCH (unmatched)", "OTHER (unmatched)",
        }), "neither paths nor invented methods make actions");
        Assert.That(hits.Count(h => h["url"].Length == 1024), Is.GreaterThan(0), "long URLs cut to Matomo's limit");
        return Task.CompletedTask;
    }

    protected override Task StopHostAsync() => _host.App.StopAsync().WaitAsync(Timeout);

    protected override ValueTask DisposeHostAsync() => _host.DisposeAsync();

    private static string Path(Random random)
    {
        var segments = random.Next(4) == 0 ? 20 : random.Next(1, 4);
        var builder = new StringBuilder();
        for (var s = 0; s < segments; s++)
        {
            if (s > 0)
            {
                builder.Append('/');
            }

            // Mostly letters; now and then any byte, escaped (NUL and control characters included).
            var length = random.Next(1, 100);
            for (var i = 0; i < length; i++)
            {
                builder.Append(random.Next(20) == 0
                    ? "%" + random.Next(256).ToString("X2", CultureInfo.InvariantCulture)
                    : ((char)('a' + random.Next(26))).ToString());
            }
        }

        return builder.ToString();
    }
}
