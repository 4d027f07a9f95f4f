using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.SignalR.Tests.Reliability;

/// <summary>Matomo down for a stretch of hub invocations, then back: what fitted in the queue arrives once, in order, at its real time.</summary>
public sealed class MatomoHubFilterOutageTests
{
    private const int Callers = 4;
    private const int Before = 5;
    private const int During = 50;
    private const int After = 5;
    private const int Capacity = 50;
    private const int BatchSize = 10;
    private static readonly TimeSpan Timeout = HubCallers.Timeout;

    [Test]
    public async Task Echo_MatomoDownThenBack_StoresWhatFittedOnceInOrderAtItsRealTimeAndCountsTheRestAsDropped()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await HubCallers.StartHostAsync(matomo, o =>
        {
            o.Sending.QueueCapacity = Capacity;
            o.Sending.BatchSize = BatchSize;
        });
        var tracker = host.Tracker;
        const int Total = Callers * (Before + During + After);
        var connections = await host.ConnectAsync(Callers);
        var before = await connections.RunAsync(0, Before);
        await matomo.WaitForHitsAsync(Callers * Before, Timeout);

        await matomo.StopAsync().WaitAsync(Timeout);
        var during = await connections.RunAsync(Before, During);
        await Eventually.TrueAsync(() => tracker.Statistics.Retried >= 3, Timeout, () => tracker.Statistics.ToString());
        // Matomo stays down well beyond the calls, so that a cdt stamped at send time would be seconds later than the call.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var downUntil = DateTimeOffset.UtcNow;
        await matomo.RestartAsync().WaitAsync(Timeout);
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped >= Callers * (Before + During), Timeout, () => tracker.Statistics.ToString());
        var after = await connections.RunAsync(Before + During, After);
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= Total && s.QueueLength == 0, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        var calls = before.Concat(during).Concat(after).ToDictionary(c => (c.Caller, c.Sequence));
        var keys = hits.Select(h => h.Key()).ToList();
        var outageStored = keys.Count(k => k.Sequence >= Before && k.Sequence < Before + During);
        TestContext.Out.WriteLine($"signalr outage: calls={Total} stored={hits.Count} dropped={stats.Dropped} outage-stored={outageStored} retried={stats.Retried}");
        Assert.That(calls, Has.Count.EqualTo(Total), "every invocation succeeded");
        Assert.That(during.Max(c => c.Duration), Is.LessThan(TimeSpan.FromSeconds(2)), "no invocation slowed by the outage");
        Assert.That(stats.Dropped, Is.GreaterThan(0), "the outage overflowed the queue");
        Assert.That(Total - hits.Count, Is.EqualTo(stats.Dropped), "calls - stored == dropped");
        Assert.That(stats.Sent, Is.EqualTo(hits.Count));
        Assert.That(stats.Rejected, Is.Zero);
        Assert.That(keys, Is.Unique, "each hit stored once");
        Assert.That(keys.All(calls.ContainsKey), Is.True, "only hits of real invocations");
        Assert.That(outageStored, Is.InRange(Capacity, Capacity + BatchSize), "the queue plus the batch in hand were kept");
        for (var caller = 0; caller < Callers; caller++)
        {
            var sequences = keys.Where(k => k.Caller == caller).Select(k => k.Sequence).ToList();
            var kept = sequences.Count(s => s >= Before && s < Before + During);
            var expected = Enumerable.Range(0, Before).Concat(Enumerable.Range(Before, kept)).Concat(Enumerable.Range(Before + During, After));
            Assert.That(sequences, Is.EqualTo(expected), $"caller {caller}: in order; all before and after the outage, and a prefix of the outage (a full queue stays full while Matomo is down)");
        }

        foreach (var hit in hits)
        {
            var call = calls[hit.Key()];
            Assert.That(hit.Time, Is.InRange(call.Started.FloorToSecond(), call.Ended), $"cdt of {hit.Key()} is the invocation's end");
        }

        Assert.That(hits.Where(h => h.Key().Sequence < Before + During).Max(h => h.Time), Is.LessThan(downUntil.FloorToSecond()), "not the send time");
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }
}
