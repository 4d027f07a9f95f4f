using System.Text.Json;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.AspNetCore.SignalR.Client;

namespace Matomo.Rpc.SignalR.Tests.Reliability;

/// <summary>One hit that makes Matomo roll back its whole batch costs only that hit.</summary>
public sealed class MatomoHubFilterPoisonedBatchTests
{
    private const int Callers = 6;
    private const int PerCaller = 4;
    private const int Calls = (Callers * PerCaller) + 1;
    private static readonly TimeSpan Timeout = HubCallers.Timeout;

    [Test]
    public async Task Notify_OneHitRollsBackItsBatch_AllOtherHitsOfTheBatchStoredAndOneDropped()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        matomo.PoisonWhen = p => p.TryGetValue("dimension7", out var v) && v == "poison";
        await using var host = await HubCallers.StartHostAsync(matomo, o =>
        {
            // The batch fills up with the 25 invocations well before the interval ends: all travel in one request.
            o.Sending.BatchSize = Calls;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(20);
        });
        var tracker = host.Tracker;
        var connections = await host.ConnectAsync(Callers);

        var echoes = connections.RunAsync(0, PerCaller);
        await connections[0].InvokeAsync("Notify", "poison").WaitAsync(Timeout);
        var calls = await echoes;
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= Calls, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        var first = matomo.Requests.First(r => r.Path == "/matomo.php" && r.Method == "POST");
        TestContext.Out.WriteLine($"signalr poison: calls={Calls} stored={hits.Count} dropped={stats.Dropped} requests={matomo.Requests.Count}");
        Assert.That(first.StatusCode, Is.EqualTo(500), "Matomo rolled the batch back");
        Assert.That(JsonDocument.Parse(first.Body).RootElement.GetProperty("requests").GetArrayLength(), Is.EqualTo(Calls), "one batch");
        Assert.That(hits.Select(h => h.Key()), Is.EquivalentTo(calls.Select(c => (c.Caller, c.Sequence))), "every other hit of the batch stored");
        Assert.That(stats.Dropped, Is.EqualTo(1));
        Assert.That(stats.Sent, Is.EqualTo(Calls - 1));
        Assert.That(stats.Rejected, Is.Zero);
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }
}
