using System.Diagnostics;
using Matomo.Rpc.Internal;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>Matomo:Sending:MaxConcurrentRequests: how many bulk requests the sender keeps in flight.</summary>
public class MatomoSenderConcurrencyTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [TestCase(1)]
    [TestCase(4)]
    public async Task Send_SlowMatomo_KeepsAtMostMaxConcurrentRequestsInFlight(int maxConcurrent)
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Sending.BatchSize = 10;
            o.Sending.MaxBatchSize = 10; // batches of 10 only (this Matomo answers in no time: they would grow)
            o.Sending.MaxConcurrentRequests = maxConcurrent;
        });
        var writer = new GatedWriter();
        using var sender = harness.Sender(writer, harness.Time);
        var visitors = Enumerable.Range(0, 8).Select(v => "visitor-" + v).ToArray();
        for (var i = 0; i < 160; i++)
        {
            Track(harness, visitors[i % 8], i);
        }

        await sender.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        // Matomo answers one request at a time, each only once as many are in flight as the sender may start: as many as
        // its limit now allows, unless fewer visitor lanes have hits left (one lane is in one request at a time).
        for (var answered = 0; harness.Tracker.Statistics.Sent < 160; answered++)
        {
            await WaitUntilAsync(() => writer.InFlight > 0 && writer.InFlight == Math.Min(sender.Limiter.Limit, LanesWithHitsLeft(writer, visitors)));
            writer.ReleaseOne();
            await WaitUntilAsync(() => harness.Tracker.Statistics.Sent == (answered + 1) * 10);
        }

        var peak = writer.Peak;
        await sender.StopAsync(CancellationToken.None).WaitAsync(Timeout);

        Assert.That(peak, Is.EqualTo(maxConcurrent), "the limit grew to the ceiling, never past it");
        Assert.That(writer.Batches, Has.Count.EqualTo(16));
        Assert.That(writer.Batches.SelectMany(b => b).Distinct().Count(), Is.EqualTo(160), "every hit sent once");
        Assert.That(harness.Tracker.Statistics.Dropped, Is.Zero);
        foreach (var visitor in visitors)
        {
            var sent = writer.Batches.SelectMany(b => b).Where(a => a.StartsWith(visitor + "/", StringComparison.Ordinal)).ToArray();
            Assert.That(sent, Is.EqualTo(Enumerable.Range(0, 160).Where(i => i % 8 == Array.IndexOf(visitors, visitor)).Select(i => visitor + "/" + i)),
                "each visitor's hits reach Matomo in order");
        }
    }

    [Test]
    public async Task Send_OneVisitorAndRoomForFour_OneRequestAtATimeInOrder()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Sending.BatchSize = 10;
            o.Sending.MaxBatchSize = 10;
            o.Sending.MaxConcurrentRequests = 4;
        });
        var writer = new GatedWriter();
        using var sender = harness.Sender(writer, harness.Time);
        for (var i = 0; i < 60; i++)
        {
            Track(harness, "the-only-caller", i);
        }

        await sender.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        for (var answered = 0; answered < 6; answered++)
        {
            await WaitUntilAsync(() => writer.InFlight == 1);
            writer.ReleaseOne();
            await WaitUntilAsync(() => harness.Tracker.Statistics.Sent == (answered + 1) * 10);
        }

        var peak = writer.Peak;
        var limit = sender.Limiter.Limit;
        await sender.StopAsync(CancellationToken.None).WaitAsync(Timeout);

        Assert.That(limit, Is.GreaterThan(1), "the limiter would allow more");
        Assert.That(peak, Is.EqualTo(1), "a visitor's next hits wait for the answer to its earlier ones");
        Assert.That(writer.Batches.SelectMany(b => b), Is.EqualTo(Enumerable.Range(0, 60).Select(i => "the-only-caller/" + i)));
    }

    private static void Track(TrackerHarness harness, string visitor, int i)
    {
        var call = harness.Tracker.StartCall(visitor + "/" + i, MatomoCallKind.Unary)!;
        call.SetCaller(new MatomoCallerInfo { VisitorKey = visitor });
        call.Complete();
    }

    private static int LanesWithHitsLeft(GatedWriter writer, string[] visitors)
    {
        var sent = writer.Started.GroupBy(a => a[..a.IndexOf('/', StringComparison.Ordinal)]).ToDictionary(g => g.Key, g => g.Count());
        return visitors.Where(v => sent.GetValueOrDefault(v) < 20 || writer.InFlightActions.Any(a => a.StartsWith(v + "/", StringComparison.Ordinal)))
            .Select(v => VisitorLanes.LaneOf(VisitorHit(v), MatomoVisitorIdentity.None)).Distinct().Count();
    }

    private static MatomoHit VisitorHit(string visitor)
    {
        using var harness = new TrackerHarness();
        var call = harness.Tracker.StartCall("x", MatomoCallKind.Unary)!;
        call.SetCaller(new MatomoCallerInfo { VisitorKey = visitor });
        call.Complete();
        return harness.TakeHit();
    }

    [Test]
    public async Task Stop_MatomoNeverAnswersWithRequestsInFlight_EndsAtDeadlineAndCountsThem()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Sending.BatchSize = 10;
            o.Sending.MaxConcurrentRequests = 3;
            o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(2);
        });
        var writer = new GatedWriter();
        using var sender = harness.Sender(writer, harness.Time);
        for (var i = 0; i < 50; i++)
        {
            harness.Tracker.StartCall("a/" + i, MatomoCallKind.Unary)!.Complete();
        }

        await sender.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        // The sender starts with one request in flight and grows only on answers; this Matomo never answers.
        await WaitUntilAsync(() => writer.InFlight == 1);
        var stop = sender.StopAsync(CancellationToken.None);
        harness.Time.Advance(TimeSpan.FromSeconds(2));
        await stop.WaitAsync(Timeout);

        Assert.That(harness.Tracker.Statistics.Sent, Is.Zero);
        Assert.That(harness.Tracker.Statistics.Dropped, Is.EqualTo(50), "10 in flight and 40 still queued or waiting for a request, all counted");
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > Timeout)
            {
                Assert.Fail("condition not reached");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>A Matomo that holds every request until released, and remembers how many were in flight at once.</summary>
    private sealed class GatedWriter : IHitWriter
    {
        private readonly SemaphoreSlim _gate = new(0);
        private readonly List<string[]> _batches = [];
        private readonly List<string> _inFlightActions = [];
        private int _inFlight;
        private int _peak;

        public string Describe => "gated";

        public int InFlight => Volatile.Read(ref _inFlight);

        public int Peak => Volatile.Read(ref _peak);

        public IReadOnlyList<string[]> Batches
        {
            get
            {
                lock (_batches)
                {
                    return [.. _batches];
                }
            }
        }

        public void ReleaseOne() => _gate.Release();

        /// <summary>Actions of every request started so far.</summary>
        public IReadOnlyList<string> Started
        {
            get
            {
                lock (_batches)
                {
                    return [.. _batches.SelectMany(b => b)];
                }
            }
        }

        /// <summary>Actions of the requests in flight.</summary>
        public IReadOnlyList<string> InFlightActions
        {
            get
            {
                lock (_batches)
                {
                    return [.. _inFlightActions];
                }
            }
        }

        public async Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken)
        {
            string[] actions = [.. hits.Select(h => h.Action)];
            lock (_batches)
            {
                // In the order requests start: a visitor's hits must start in order, each after the last was answered.
                _batches.Add(actions);
                _inFlightActions.AddRange(actions);
            }

            var now = Interlocked.Increment(ref _inFlight);
            int peak;
            while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
            {
            }

            try
            {
                await _gate.WaitAsync(cancellationToken);
                return SendResult.Ok(hits.Count);
            }
            finally
            {
                lock (_batches)
                {
                    foreach (var action in actions)
                    {
                        _inFlightActions.Remove(action);
                    }
                }

                Interlocked.Decrement(ref _inFlight);
            }
        }
    }
}
