using System.Collections.Concurrent;
using Matomo.Rpc.SignalR.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace Matomo.Rpc.SignalR.Tests.Reliability;

/// <summary>
/// Hostile callers over every transport (random and extreme User-Agent, Accept-Language and Referer headers) and hostile
/// values that the hub puts in its per-invocation variables: no invocation fails because of tracking, and every hit
/// Matomo receives is valid per MATOMO.md.
/// </summary>
public sealed class MatomoHubFilterHostileInputTests
{
    private const int Seed = 20261126;
    private const int Callers = 24;
    private const int PerCaller = 6;

    // SignalR refuses messages over 32 KB by default; a value of 4000 UTF-16 units stays under it even when JSON escapes
    // every character.
    private const int MaxMessageText = 4000;
    private static readonly TimeSpan Timeout = HubCallers.Timeout;

    [Test]
    public async Task Echo_HostileHeadersAndValues_NoInvocationFailsAndEveryHitIsValid()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await SignalRTestHost.StartAsync(matomo, FilterRegistration.PerHub, o =>
        {
            o.IgnoredCallKinds.Add(MatomoCallKind.HubDisconnect);
            o.Sending.BatchSize = 50;
        });
        var tracker = host.Tracker;
        var failures = new ConcurrentBag<string>();
        var invocations = 0;
        TestContext.Out.WriteLine($"seed {Seed}");
        HttpTransportType[] transports = [HttpTransportType.WebSockets, HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling];

        await Task.WhenAll(Enumerable.Range(0, Callers).Select(async c =>
        {
            var text = new HostileText(Seed + c);
            var headers = new Dictionary<string, string>();
            foreach (var name in new[] { "User-Agent", "Accept-Language", "Referer" })
            {
                if (text.HeaderValue() is { Length: > 0 } value)
                {
                    headers[name] = value;
                }
            }

            var connection = new HubConnectionBuilder()
                .WithUrl(new Uri(host.BaseUri, SignalRTestHost.ChatPath), transports[c % transports.Length], o =>
                {
                    o.HttpMessageHandlerFactory = inner => new RawHeadersHandler(inner, headers);
                    o.WebSocketConfiguration = ws =>
                    {
                        foreach (var (name, value) in headers)
                        {
                            ws.SetRequestHeader(name, value);
                        }
                    };
                })
                .Build();
            try
            {
                await connection.StartAsync().WaitAsync(Timeout);
                for (var i = 0; i < PerCaller; i++)
                {
                    var value = text.Text();
                    value = value.Length > MaxMessageText ? value[..MaxMessageText] : value;
                    Interlocked.Increment(ref invocations);
                    if (i % 2 == 0)
                    {
                        await connection.InvokeAsync<string>("Echo", value).WaitAsync(Timeout);
                    }
                    else
                    {
                        await connection.InvokeAsync("Notify", value).WaitAsync(Timeout);
                    }
                }

                await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
            }
            catch (Exception ex)
            {
                await connection.DisposeAsync();
                failures.Add($"caller {c} ({string.Join(", ", headers.Select(h => h.Key + ": " + h.Value.Length))}): {ex.GetType().Name}: {ex.Message}");
            }
        })).WaitAsync(Timeout);
        var expected = invocations + Callers; // one connect event per connection
        Assert.That(failures, Is.Empty, "no invocation failed");
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= expected, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        TestContext.Out.WriteLine($"signalr hostile: calls={invocations} connects={Callers} stored={hits.Count} sent={stats.Sent} rejected={stats.Rejected} dropped={stats.Dropped}");
        Assert.That(failures, Is.Empty, "no invocation failed");
        Assert.That(invocations, Is.EqualTo(Callers * PerCaller));
        Assert.That(stats.Rejected, Is.Zero, "tracked == sent: Matomo found nothing invalid");
        Assert.That(stats.Dropped, Is.Zero);
        Assert.That(stats.Sent, Is.EqualTo(expected));
        Assert.That(hits, Has.Count.EqualTo(expected));
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
        Assert.That(hits.Count(h => h.Parameters.GetValueOrDefault("ua")?.Length == 1024), Is.GreaterThan(0), "extreme user agents reached Matomo, cut to 1024");
        Assert.That(host.Logs.Entries.Where(e => e.EventId.Name is "CompleteFailed" or "SenderFailed" or "HubTrackingFailed").Select(e => e.EventId.Name), Is.Empty);
    }
}
