using Matomo.Rpc.SignalR.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.SignalR.Tests.Reliability;

/// <summary>The token never shows: not in a log line at any level, an exception message, or a URL Matomo received.</summary>
[NonParallelizable]
public sealed class MatomoHubFilterSecretsTests
{
    private const string LogLevelVariable = "Logging__LogLevel__Default";
    private static readonly TimeSpan Timeout = HubCallers.Timeout;

    [Test]
    public async Task TokenAuth_OutageErrorAnswersAndFailingInvocations_NeverInLogsExceptionsOrUrls()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        var token = matomo.Token;
        var capture = new CapturingLoggerProvider();
        var exceptions = new List<string>();
        SignalRTestHost host;

        // The shared host fixture logs at Information; its configuration reads the environment, which raises every
        // category to Trace for this host only (restored at once).
        var previous = Environment.GetEnvironmentVariable(LogLevelVariable);
        Environment.SetEnvironmentVariable(LogLevelVariable, "Trace");
        try
        {
            host = await HubCallers.StartHostAsync(matomo, o => o.TokenAuth = token);
        }
        finally
        {
            Environment.SetEnvironmentVariable(LogLevelVariable, previous);
        }

        var stopped = false;
        try
        {
            host.Services.GetRequiredService<ILoggerFactory>().AddProvider(capture);
            var tracker = host.Tracker;
            var connections = await host.ConnectAsync(2);
            var seq = 0;

            async Task CallsAsync(int count)
            {
                await connections.RunAsync(seq, count);
                seq += count;
                try
                {
                    await connections[0].InvokeAsync("FailUnhandled").WaitAsync(Timeout);
                }
                catch (HubException ex)
                {
                    exceptions.Add(ex.ToString());
                }
            }

            async Task SettledAsync(int hits) =>
                await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= hits, Timeout, () => tracker.Statistics.ToString());

            await CallsAsync(2);
            await SettledAsync(5);
            await matomo.StopAsync().WaitAsync(Timeout);
            await CallsAsync(2);
            await Eventually.TrueAsync(() => tracker.Statistics.Retried >= 2, Timeout, () => tracker.Statistics.ToString());
            await matomo.RestartAsync().WaitAsync(Timeout);
            await SettledAsync(10);
            matomo.FailWith = 401;
            await CallsAsync(2);
            await SettledAsync(15);
            matomo.FailWith = 500;
            await CallsAsync(2);
            await SettledAsync(20);
            matomo.FailWith = null;
            await connections[1].InvokeAsync<string>("Echo", "after").WaitAsync(Timeout);
            await SettledAsync(21);
            await host.DisposeAsync();
            stopped = true;

            var stats = tracker.Statistics;
            var logs = capture.Entries;
            TestContext.Out.WriteLine($"signalr secrets: calls=21 stored={matomo.Hits.Count} sent={stats.Sent} rejected={stats.Rejected} dropped={stats.Dropped} logs={logs.Count} exceptions={exceptions.Count} requests={matomo.Requests.Count}");
            Assert.That(exceptions, Has.Count.EqualTo(4));
            Assert.That(stats.Rejected, Is.EqualTo(5), "the 401 answers were seen");
            Assert.That(stats.Dropped, Is.EqualTo(5), "the 500 answers were seen");
            Assert.That(logs.Count(l => l.Level == LogLevel.Trace), Is.GreaterThan(0), "trace logging was captured");
            Assert.That(logs.Where(l => l.Contains(token)).Select(l => l.Category + ": " + l.Text), Is.Empty);
            Assert.That(exceptions.Where(e => e.Contains(token, StringComparison.OrdinalIgnoreCase)), Is.Empty);
            Assert.That(matomo.Requests.Where(r => r.TokenInUrl || (r.Path + r.QueryString).Contains(token, StringComparison.OrdinalIgnoreCase)), Is.Empty);
            Assert.That(matomo.Hits.Where(h => h.Query.Contains(token, StringComparison.OrdinalIgnoreCase)), Is.Empty);
            Assert.That(matomo.Hits.Count(h => h.Has("cip")), Is.EqualTo(matomo.Hits.Count).And.EqualTo(11), "the token was used (cip needs it)");
        }
        finally
        {
            if (!stopped)
            {
                await host.DisposeAsync();
            }
        }
    }
}
