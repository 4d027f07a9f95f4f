using System.Net;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// The queue between calls and the sender: its bound, its counts (offered, queued, held, waiting) and its completion,
/// also with producers racing each other, the reader and the stop.
/// </summary>
[TestFixture]
public class HitQueueTests
{
    private static MatomoHit AnyHit()
    {
        using var source = new TrackerHarness();
        return source.Hit();
    }

    [Test]
    public void TryWrite_UnderTheBound_CountsQueuedOfferedHeldAndWaiting()
    {
        using var harness = new TrackerHarness(o => o.Sending.QueueCapacity = 10);
        var hit = AnyHit();

        for (var i = 0; i < 4; i++)
        {
            harness.Queue.TryWrite(hit);
        }

        harness.Queue.TryRead(out _);

        Assert.That(harness.Queue.Count, Is.EqualTo(4), "a hit taken by the sender is held until released");
        Assert.That(harness.Queue.Waiting, Is.EqualTo(3));
        Assert.That(harness.Tracker.Statistics.Queued, Is.EqualTo(4));
        Assert.That(harness.Queue.Metrics.OfferedTotal, Is.EqualTo(4));
        harness.Queue.Release(1);
        Assert.That(harness.Queue.Count, Is.EqualTo(3));
    }

    [Test]
    public void TryWrite_FullDropNewest_RefusesCountsOfferedAndDroppedNotQueued()
    {
        using var harness = new TrackerHarness(o => o.Sending.QueueCapacity = 2);
        var hit = AnyHit();

        var written = Enumerable.Range(0, 5).Select(_ => harness.Queue.TryWrite(hit)).ToArray();

        Assert.That(written, Is.EqualTo(new[] { true, true, false, false, false }));
        Assert.That(harness.Tracker.Statistics.Queued, Is.EqualTo(2));
        Assert.That(harness.Tracker.Statistics.Dropped, Is.EqualTo(3));
        Assert.That(harness.Queue.Metrics.OfferedTotal, Is.EqualTo(5));
        Assert.That(harness.Queue.TakeDropsToLog(), Is.EqualTo(3));
    }

    [Test]
    public void TryWrite_FullOfHitsTheSenderHolds_RefusedEvenWithDropOldest()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Sending.QueueCapacity = 2;
            o.Sending.FullQueuePolicy = MatomoFullQueuePolicy.DropOldest;
        });
        var hit = AnyHit();
        harness.Queue.TryWrite(hit);
        harness.Queue.TryWrite(hit);
        harness.Queue.TryRead(out _);
        harness.Queue.TryRead(out _);

        var written = harness.Queue.TryWrite(hit);

        Assert.That(written, Is.False, "only a waiting hit can give its place");
        Assert.That(harness.Queue.Count, Is.EqualTo(2));
        Assert.That(harness.Tracker.Statistics.Dropped, Is.EqualTo(1));
    }

    [Test]
    public void TryWrite_FullDropOldest_TheOldestWaitingGivesItsPlace()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Sending.QueueCapacity = 2;
            o.Sending.FullQueuePolicy = MatomoFullQueuePolicy.DropOldest;
        });
        var hits = Enumerable.Range(0, 3).Select(_ => AnyHit()).ToArray();

        var written = hits.Select(harness.Queue.TryWrite).ToArray();

        Assert.That(written, Is.All.True);
        Assert.That(harness.Queue.Count, Is.EqualTo(2));
        Assert.That(harness.Queue.TryRead(out var first) ? first : null, Is.SameAs(hits[1]));
        Assert.That(harness.Queue.TryRead(out var second) ? second : null, Is.SameAs(hits[2]));
        Assert.That(harness.Tracker.Statistics.Queued, Is.EqualTo(3));
        Assert.That(harness.Tracker.Statistics.Dropped, Is.EqualTo(1));
        Assert.That(harness.Queue.Metrics.OfferedTotal, Is.EqualTo(3));
    }

    [Test]
    public void Complete_ThenTryWrite_RefusedAsShutdownAndDrainedOnceEmpty()
    {
        using var harness = new TrackerHarness();
        var hit = AnyHit();
        harness.Queue.TryWrite(hit);

        harness.Queue.Complete();
        var late = harness.Queue.TryWrite(hit);

        Assert.That(late, Is.False);
        Assert.That(harness.Queue.IsDrained, Is.False, "a hit still waits");
        Assert.That(harness.Queue.TryRead(out _), Is.True);
        Assert.That(harness.Queue.IsDrained, Is.True);
        Assert.That(harness.Tracker.Statistics.Queued, Is.EqualTo(1));
        Assert.That(harness.Queue.Metrics.OfferedTotal, Is.EqualTo(2));
    }

    [Test]
    public async Task TryWrite_ProducersRaceTheReaderAndTheStop_EveryHitReadOrDroppedExactlyOnce([Values] MatomoFullQueuePolicy policy)
    {
        const int Producers = 4;
        using var harness = new TrackerHarness(o =>
        {
            o.Sending.QueueCapacity = 64;
            o.Sending.FullQueuePolicy = policy;
        });
        var queue = harness.Queue;
        var hit = AnyHit();
        var attempts = new long[Producers];
        var refusedByStop = 0;
        using var enoughWritten = new CountdownEvent(Producers);
        var producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
        {
            var signalled = false;
            while (true)
            {
                attempts[p]++;
                if (!queue.TryWrite(hit) && queue.IsCompleted)
                {
                    Interlocked.Increment(ref refusedByStop);
                    return;
                }

                if (!signalled && attempts[p] >= 20_000)
                {
                    signalled = true;
                    enoughWritten.Signal();
                }
            }
        })).ToArray();

        // The sender: reads, and releases each hit it read as done, until the queue is drained after the stop.
        var read = 0L;
        var reader = Task.Run(() =>
        {
            while (!queue.IsDrained)
            {
                if (queue.TryRead(out _))
                {
                    read++;
                    queue.Release(1);
                }
            }
        });
        Assert.That(enoughWritten.Wait(TimeSpan.FromSeconds(60)), Is.True, "the producers wrote");
        queue.Complete();
        await Task.WhenAll(producers).WaitAsync(TimeSpan.FromSeconds(60));
        await reader.WaitAsync(TimeSpan.FromSeconds(60));
        var left = queue.DropWaiting(DropReasons.Shutdown);

        var stats = harness.Tracker.Statistics;
        Assert.That(left, Is.Zero, "drained: nothing accepted is left behind");
        Assert.That(queue.Metrics.OfferedTotal, Is.EqualTo(attempts.Sum()), "every attempt is offered once");
        Assert.That(stats.Queued, Is.EqualTo(queue.Accepted));
        Assert.That(read + stats.Dropped, Is.EqualTo(attempts.Sum()), "every offered hit is read or dropped, once");
        Assert.That(queue.Count, Is.Zero, "every place was given back");
        Assert.That(refusedByStop, Is.EqualTo(Producers));
    }

    [Test]
    public async Task WaitForHitsAsync_ProducersOnOtherThreads_NoWakeUpLost()
    {
        using var harness = new TrackerHarness(o => o.Sending.QueueCapacity = 1_000_000);
        var queue = harness.Queue;
        var hit = AnyHit();

        // Rounds of: the sender arms a wait for n hits, two producers write them between them, the wait ends.
        for (var round = 0; round < 2_000; round++)
        {
            var n = 1 + (round % 7);
            var wait = queue.WaitForHitsAsync(n);
            var first = n / 2;
            var a = Task.Run(() =>
            {
                for (var i = 0; i < first; i++)
                {
                    queue.TryWrite(hit);
                }
            });
            var b = Task.Run(() =>
            {
                for (var i = first; i < n; i++)
                {
                    queue.TryWrite(hit);
                }
            });

            await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            await Task.WhenAll(a, b);
            while (queue.TryRead(out _))
            {
                queue.Release(1);
            }
        }

        Assert.That(harness.Tracker.Statistics.Queued, Is.EqualTo(Enumerable.Range(0, 2_000).Sum(r => 1 + (r % 7))));
    }

    [Test]
    public void DropWaiting_HitsWaitingAndHeld_DropsAndReleasesOnlyTheWaiting()
    {
        using var harness = new TrackerHarness();
        var hit = AnyHit();
        for (var i = 0; i < 5; i++)
        {
            harness.Queue.TryWrite(hit);
        }

        harness.Queue.TryRead(out _);

        var dropped = harness.Queue.DropWaiting(DropReasons.Shutdown);

        Assert.That(dropped, Is.EqualTo(4));
        Assert.That(harness.Queue.Count, Is.EqualTo(1), "the hit the sender holds keeps its place");
        Assert.That(harness.Queue.Waiting, Is.Zero);
        Assert.That(harness.Tracker.Statistics.Dropped, Is.EqualTo(4));
    }

    [Test]
    public void LaneOfCached_SameCallersAsNewAndReusedStrings_SameLanesAsLaneOf([Values] MatomoVisitorIdentity identity)
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = identity);
        var lanes = new VisitorLanes(100, (_, _, _, _) => { });
        var agents = Enumerable.Range(0, 600).Select(i => "agent/" + (i % 300)).ToArray(); // equal text as two string objects
        var hits = new List<MatomoHit>();
        for (var i = 0; i < agents.Length; i++)
        {
            var caller = new MatomoCallerInfo
            {
                RemoteAddress = IPAddress.Parse("10.0.0." + (i % 7)),
                UserAgent = agents[i],
                UserId = i % 5 == 0 ? "user" + i : null,
                VisitorKey = i % 11 == 0 ? "key" + i : null,
            };
            hits.Add(harness.Hit(caller: caller, during: i % 13 == 0 ? c => c.SetVar("uid", "u" + i) : null));
        }

        // Twice: the second pass finds every user agent remembered (or displaced by another in its slot).
        var cached = hits.Concat(hits).Select(h => lanes.LaneOfCached(h, identity)).ToArray();

        Assert.That(cached, Is.EqualTo(hits.Concat(hits).Select(h => VisitorLanes.LaneOf(h, identity)).ToArray()));
        Assert.That(cached.Distinct().Count(), Is.GreaterThan(VisitorLanes.LaneCount / 2), "the callers spread over the lanes");
    }
}
