using Matomo.Rpc.Internal;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.Shared.Tests.Reliability;

/// <summary>Every hit the sender took from the queue is accounted for when the shutdown deadline passes, wherever the sender is.</summary>
public sealed class MatomoSenderShutdownDeadlineTests
{
    private static readonly TimeSpan RealTimeout = TimeSpan.FromSeconds(20);

    [Test]
    public async Task StopAsync_DeadlinePassesWhileTheLastBatchIsSent_CountsItsHitsAsDropped()
    {
        // A stopping sender no longer waits for a batch to fill: it sends what is left at once. The deadline then passes
        // while that last batch hangs on a slow Matomo.
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.Sending.BatchSize = 100;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(1);
            o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(5);
        });
        var writer = new FakeHitWriter(harness.Time) { Manual = true };
        using var sender = harness.Sender(writer, harness.Time);
        await sender.StartAsync(CancellationToken.None).WaitAsync(RealTimeout);
        Complete(harness, 1);
        // The first hit waits out its flush interval, then its request hangs on a slow Matomo while five more are queued.
        while (writer.Calls.Count == 0)
        {
            harness.Time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Yield();
        }

        var first = await writer.NextAsync();
        Complete(harness, 5);
        var stop = sender.StopAsync(CancellationToken.None);

        first.Result.SetResult(SendResult.Ok(1));
        var last = await writer.NextAsync();
        harness.Time.Advance(harness.Options.Sending.ShutdownTimeout);
        await stop.WaitAsync(RealTimeout);

        var stats = harness.Tracker.Statistics;
        Assert.That(last.Actions, Has.Length.EqualTo(5), "the stopping sender sent the rest at once");
        Assert.That(stats.Sent + stats.Dropped + stats.Rejected, Is.EqualTo(6), "every hit accounted for: " + stats);
        Assert.That(stats.Sent, Is.EqualTo(1));
        Assert.That(stats.Dropped, Is.EqualTo(5), "the batch in flight at the deadline is dropped and counted");
    }

    [Test]
    public async Task StopAsync_DeadlinePassesWhileTheLastBatchIsFilled_CountsItsHitsAsDropped()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.Sending.BatchSize = 100;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(1);
            o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(5);
        });
        var writer = new FakeHitWriter(harness.Time) { Manual = true };

        // Once armed, encoding the next hit moves the clock past the shutdown deadline: the deadline passes exactly while
        // the sender fills its last batch (it waits for no timer then: stopping completed the queue).
        var armed = 0;
        var fired = false;
        var encoder = new HitEncoder(harness.Options, new VisitorIdGenerator("salt"), harness.CheckState, NullLogger.Instance, () =>
        {
            if (Interlocked.Exchange(ref armed, 0) == 1)
            {
                harness.Time.Advance(harness.Options.Sending.ShutdownTimeout);
                fired = true;
            }
        });
        var delivery = new HitDelivery(writer, encoder, harness.Queue, harness.Options, harness.CheckState,
            new SendHealth(harness.Queue, harness.Time, NullLogger.Instance), harness.Time, NullLogger.Instance);
        using var sender = new MatomoSender(harness.Queue, delivery, harness.Options, harness.Time, NullLogger.Instance);
        await sender.StartAsync(CancellationToken.None).WaitAsync(RealTimeout);
        Complete(harness, 1);
        // The first hit waits out its flush interval, then its request hangs on a slow Matomo while five more are queued.
        while (writer.Calls.Count == 0)
        {
            harness.Time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Yield();
        }

        var first = await writer.NextAsync();
        Complete(harness, 5);
        var stop = sender.StopAsync(CancellationToken.None);
        Volatile.Write(ref armed, 1);

        first.Result.SetResult(SendResult.Ok(1));
        await stop.WaitAsync(RealTimeout);

        var stats = harness.Tracker.Statistics;
        Assert.That(fired, Is.True, "the deadline passed while the sender filled its batch");
        Assert.That(stats.Sent + stats.Dropped + stats.Rejected, Is.EqualTo(6), "every hit accounted for: " + stats);
        Assert.That(stats.Sent, Is.EqualTo(1));
        Assert.That(stats.Dropped, Is.EqualTo(5), "the batch being filled at the deadline is dropped and counted");
    }

    [Test]
    public async Task StopAsync_DeadlinePassesWhileABatchWithCrashHitsIsSent_CountsTheCrashHitsNotYetSentAsDropped()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.TrackCrashes = true;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(1);
            o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(5);
        });
        var writer = new FakeHitWriter(harness.Time) { Manual = true };
        using var sender = harness.Sender(writer, harness.Time);
        await sender.StartAsync(CancellationToken.None).WaitAsync(RealTimeout);
        for (var i = 0; i < 2; i++)
        {
            var call = harness.Tracker.StartCall("a/" + i, MatomoCallKind.Unary)!;
            Assert.That(call.Complete(MatomoOutcome.Error, new InvalidOperationException("failed")), Is.True);
        }

        while (writer.Calls.Count == 0)
        {
            harness.Time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Yield();
        }

        // Matomo never answers the batch (two page views; each failed call also has a crash hit to send after it).
        var batch = await writer.NextAsync();
        var stop = sender.StopAsync(CancellationToken.None);
        harness.Time.Advance(harness.Options.Sending.ShutdownTimeout);
        await stop.WaitAsync(RealTimeout);

        var stats = harness.Tracker.Statistics;
        Assert.That(batch.Actions, Has.Length.EqualTo(2));
        Assert.That(stats.Sent, Is.Zero);
        Assert.That(stats.Dropped, Is.EqualTo(4), "the batch's two hits and the two crash hits never sent: " + stats);
    }

    [Test]
    public async Task StopAsync_HostTokenAlreadyCanceledWhileABatchIsSent_ReturnsOnlyOnceEveryHitIsCounted()
    {
        // The host gives up on the stop at once: the loop is aborted and settles what it holds as at the deadline. The
        // stop must not return (and the host then dispose the sender and its spool) while that settling still runs.
        for (var round = 0; round < 10; round++)
        {
            using var harness = new TrackerHarness(o =>
            {
                o.Recording = MatomoRecording.None;
                o.Sending.FlushInterval = TimeSpan.FromSeconds(1);
                o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(5);
            });
            var writer = new FakeHitWriter(harness.Time) { Manual = true };
            using var sender = harness.Sender(writer, harness.Time);
            await sender.StartAsync(CancellationToken.None).WaitAsync(RealTimeout);
            Complete(harness, 3);
            while (writer.Calls.Count == 0)
            {
                harness.Time.Advance(TimeSpan.FromMilliseconds(100));
                await Task.Yield();
            }

            // Matomo never answers the batch; two more hits wait in the queue.
            _ = await writer.NextAsync();
            Complete(harness, 2);
            using var hostGaveUp = new CancellationTokenSource();
            await hostGaveUp.CancelAsync();

            await sender.StopAsync(hostGaveUp.Token).WaitAsync(RealTimeout);

            var stats = harness.Tracker.Statistics;
            Assert.That(stats.Dropped, Is.EqualTo(5), $"round {round}: every hit counted when the stop returns: {stats}");
            Assert.That(stats.QueueLength, Is.Zero, $"round {round}: {stats}");
        }
    }

    [Test]
    public async Task StopAsync_HostTokenCanceledAndAWriteIgnoresIt_ReturnsAfterTheGraceAndSaysSo()
    {
        // What a stalled disk under the spool would do: the settling never ends. The host's shutdown must still end.
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(1);
        });
        var writer = new StalledHitWriter();
        var logger = new CapturingLogger();
        var sender = harness.Sender(writer, harness.Time, logger);
        await sender.StartAsync(CancellationToken.None).WaitAsync(RealTimeout);
        Complete(harness, 1);
        while (!writer.Called.Task.IsCompleted)
        {
            harness.Time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Yield();
        }

        using var hostGaveUp = new CancellationTokenSource();
        await hostGaveUp.CancelAsync();
        var watch = System.Diagnostics.Stopwatch.StartNew();

        await sender.StopAsync(hostGaveUp.Token).WaitAsync(RealTimeout);

        Assert.That(watch.Elapsed, Is.GreaterThanOrEqualTo(MatomoSender.SettleGrace - TimeSpan.FromMilliseconds(50)), "it waited for the settling first");
        Assert.That(logger.EventNames, Does.Contain("StopUnsettled"));
        writer.Release.SetResult(); // let the stalled write end, so nothing outlives the test
    }

    /// <summary>A write that ignores its cancellation until the test releases it.</summary>
    private sealed class StalledHitWriter : IHitWriter
    {
        public TaskCompletionSource Called { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Describe => "stalled";

        public async Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken)
        {
            Called.TrySetResult();
            await Release.Task;
            throw new IOException("released");
        }
    }

    private static void Complete(TrackerHarness harness, int count)
    {
        for (var i = 0; i < count; i++)
        {
            Assert.That(harness.Tracker.StartCall("a/" + i, MatomoCallKind.Unary)!.Complete(), Is.True);
        }
    }
}
