using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>Matomo down for a stretch of calls, then back: what fitted in the queue arrives once, in order, at its real time.</summary>
public sealed class MatomoInterceptorOutageTests
{
    private const int Callers = 4;
    private const int Before = 5;
    private const int During = 50;
    private const int After = 5;
    private const int Capacity = 50;
    private const int BatchSize = 10;
    private static readonly TimeSpan Timeout = ReliabilityHost.Timeout;

    [TestCase(MatomoFullQueuePolicy.DropNewest)]
    [TestCase(MatomoFullQueuePolicy.DropOldest)]
    public async Task SayHello_MatomoDownThenBack_StoresWhatFittedOnceInOrderAtItsRealTimeAndCountsTheRestAsDropped(MatomoFullQueuePolicy policy)
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await ReliabilityHost.StartAsync(matomo, o =>
        {
            o.Sending.QueueCapacity = Capacity;
            o.Sending.BatchSize = BatchSize;
            o.Sending.FullQueuePolicy = policy;
        });
        var tracker = host.Tracker();
        const int Total = Callers * (Before + During + After);
        var before = await host.RunCallersAsync(Callers, 0, Before);
        await matomo.WaitForHitsAsync(Callers * Before, Timeout);

        await matomo.StopAsync().WaitAsync(Timeout);
        var during = await host.RunCallersAsync(Callers, Before, During);
        await Eventually.TrueAsync(() => tracker.Statistics.Retried >= 3, Timeout, () => tracker.Statistics.ToString());
        // Matomo stays down well beyond the calls, so that a cdt stamped at send time would be seconds later than the call.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var downFor = DateTimeOffset.UtcNow;
        await matomo.RestartAsync().WaitAsync(Timeout);
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped >= Callers * (Before + During), Timeout, () => tracker.Statistics.ToString());
        var after = await host.RunCallersAsync(Callers, Before + During, After);
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= Total && s.QueueLength == 0, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        var calls = before.Concat(during).Concat(after).ToDictionary(c => (c.Caller, c.Sequence));
        var keys = hits.Select(h => h.Key()).ToList();
        var outageStored = keys.Count(k => k.Sequence >= Before && k.Sequence < Before + During);
        TestContext.Out.WriteLine($"outage ({policy}): calls={Total} stored={hits.Count} dropped={stats.Dropped} outage-stored={outageStored} retried={stats.Retried}");
        Assert.That(calls, Has.Count.EqualTo(Total), "every call succeeded");
        Assert.That(during.Max(c => c.Duration), Is.LessThan(TimeSpan.FromSeconds(2)), "no call slowed by the outage");
        Assert.That(stats.Dropped, Is.GreaterThan(0), "the outage overflowed the queue");
        Assert.That(Total - hits.Count, Is.EqualTo(stats.Dropped), "calls - stored == dropped");
        Assert.That(stats.Sent, Is.EqualTo(hits.Count));
        Assert.That(stats.Rejected, Is.Zero);
        Assert.That(keys, Is.Unique, "each hit stored once");
        Assert.That(keys.All(calls.ContainsKey), Is.True, "only hits of real calls");
        Assert.That(outageStored, Is.InRange(Capacity, Capacity + BatchSize), "the queue plus the batch in hand were kept");
        foreach (var caller in calls.Keys.Select(k => k.Caller).Distinct())
        {
            var sequences = keys.Where(k => k.Caller == caller).Select(k => k.Sequence).ToList();
            Assert.That(sequences, Is.Ordered, $"{caller}'s hits in call order");
            Assert.That(sequences.Where(s => s < Before || s >= Before + During), Is.EqualTo(Enumerable.Range(0, Before).Concat(Enumerable.Range(Before + During, After))), $"{caller}: all before and after the outage");

            // While Matomo is down the sender holds its first batch and the full queue stays full: what is lost is one
            // run of calls, the newest (DropNewest) or those between the batch in hand and the newest (DropOldest).
            var missing = Enumerable.Range(Before, During).Except(sequences).ToList();
            if (missing.Count > 0)
            {
                Assert.That(missing, Is.EqualTo(Enumerable.Range(missing[0], missing.Count)), $"{caller}: the calls lost are one run");
                if (policy == MatomoFullQueuePolicy.DropNewest)
                {
                    Assert.That(missing[^1], Is.EqualTo(Before + During - 1), $"{caller}: the newest calls were lost");
                }
            }
        }

        foreach (var hit in hits)
        {
            var call = calls[hit.Key()];
            Assert.That(hit.Has("cdt"), Is.True);
            Assert.That(hit.Time, Is.InRange(call.Started.FloorToSecond(), call.Ended), $"cdt of {hit.Key()} is the call's end");
        }

        Assert.That(hits.Where(h => h.Key().Sequence < Before + During).Max(h => h.Time), Is.LessThan(downFor.FloorToSecond()), "not the send time");
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }
}
