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
            o.Sending.MaxConcurrentRequests = maxConcurrent;
        });
        var writer = new GatedWriter();
        using var sender = harness.Sender(writer, harness.Time);
        for (var i = 0; i < 80; i++)
        {
            harness.Tracker.StartCall("a/" + i, MatomoCallKind.Unary)!.Complete();
        }

        await sender.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        // Matomo answers one request at a time, each only once the limit is reached again: a sender that started more
        // requests than allowed shows it in the peak.
        for (var answered = 0; answered < 8; answered++)
        {
            await WaitUntilAsync(() => writer.InFlight == Math.Min(maxConcurrent, 8 - answered));
            writer.ReleaseOne();
        }

        await WaitUntilAsync(() => harness.Tracker.Statistics.Sent == 80);
        var peak = writer.Peak;
        await sender.StopAsync(CancellationToken.None).WaitAsync(Timeout);

        Assert.That(peak, Is.EqualTo(maxConcurrent));
        Assert.That(writer.Batches, Has.Count.EqualTo(8));
        Assert.That(writer.Batches.SelectMany(b => b).Distinct().Count(), Is.EqualTo(80), "every hit sent once");
        Assert.That(harness.Tracker.Statistics.Dropped, Is.Zero);
        if (maxConcurrent == 1)
        {
            Assert.That(writer.Batches.SelectMany(b => b), Is.EqualTo(Enumerable.Range(0, 80).Select(i => "a/" + i)), "one at a time keeps the order");
        }
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
        await WaitUntilAsync(() => writer.InFlight == 3);
        var stop = sender.StopAsync(CancellationToken.None);
        harness.Time.Advance(TimeSpan.FromSeconds(2));
        await stop.WaitAsync(Timeout);

        Assert.That(harness.Tracker.Statistics.Sent, Is.Zero);
        Assert.That(harness.Tracker.Statistics.Dropped, Is.EqualTo(50), "30 in flight and 20 still queued or filling, all counted");
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

        public async Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken)
        {
            var now = Interlocked.Increment(ref _inFlight);
            int peak;
            while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
            {
            }

            try
            {
                await _gate.WaitAsync(cancellationToken);
                lock (_batches)
                {
                    _batches.Add([.. hits.Select(h => h.Action)]);
                }

                return SendResult.Ok(hits.Count);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }
}
