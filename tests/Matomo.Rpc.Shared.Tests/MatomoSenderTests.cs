using System.Diagnostics;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>The background sender on a fake clock with a fake writer.</summary>
[TestFixture]
public class MatomoSenderTests
{
    private static readonly TimeSpan RealTimeout = TimeSpan.FromSeconds(20);
    private TrackerHarness _harness = null!;
    private FakeHitWriter _writer = null!;
    private CapturingLogger _logger = null!;
    private ArmedTimeProvider _clock = null!;
    private MatomoSender? _sender;

    private void Arrange(Action<MatomoOptions>? configure = null)
    {
        _harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.Sending.BatchSize = 100;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(1);
            o.Sending.RetryBaseDelay = TimeSpan.FromSeconds(1);
            o.Sending.RetryMaxDelay = TimeSpan.FromSeconds(4);
            o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(5);
            configure?.Invoke(o);
        });
        _writer = new FakeHitWriter(_harness.Time);
        _logger = new CapturingLogger();
        _clock = new ArmedTimeProvider(_harness.Time);
        _sender = _harness.Sender(_writer, _clock, _logger);
    }

    [TearDown]
    public async Task TearDown()
    {
        if (_sender is not null)
        {
            _writer.Manual = false;
            var stop = _sender.StopAsync(CancellationToken.None);
            await AdvanceUntilAsync(() => stop.IsCompleted, TimeSpan.FromSeconds(1));
            await stop.WaitAsync(RealTimeout);
            _sender.Dispose();
            _sender = null;
        }

        _harness?.Dispose();
    }

    private Task StartAsync() => _sender!.StartAsync(CancellationToken.None).WaitAsync(RealTimeout);

    private void Enqueue(int count, int from = 0)
    {
        for (var i = from; i < from + count; i++)
        {
            Assert.That(_harness.Tracker.StartCall("a/" + i, MatomoCallKind.Unary)!.Complete(), Is.True);
        }
    }

    private MatomoStatistics Stats => _harness.Tracker.Statistics;

    /// <summary>
    /// Moves the fake clock in steps until <paramref name="done"/>. Each step waits until the sender is parked on a timer,
    /// so the clock never runs ahead of work the sender has not done yet.
    /// </summary>
    private async Task AdvanceUntilAsync(Func<bool> done, TimeSpan step)
    {
        var watch = Stopwatch.StartNew();
        while (!done())
        {
            if (watch.Elapsed > RealTimeout)
            {
                Assert.Fail($"Condition not reached; fake time {_harness.Time.GetUtcNow():O}, calls {_writer.Calls.Count}, stats {Stats}.");
            }

            while (_clock.Armed == 0 && !done())
            {
                Assert.That(watch.Elapsed, Is.LessThan(RealTimeout), "the sender never parked on a timer");
                await Task.Delay(1);
            }

            if (!done())
            {
                _harness.Time.Advance(step);
            }

            await Task.Delay(1);
        }
    }

    /// <summary>Waits in real time (the fake clock stands still) until <paramref name="done"/>.</summary>
    private static async Task WaitUntilAsync(Func<bool> done)
    {
        var watch = Stopwatch.StartNew();
        while (!done())
        {
            Assert.That(watch.Elapsed, Is.LessThan(RealTimeout), "condition not reached");
            await Task.Delay(1);
        }
    }

    private static string[] Actions(int from, int count) => [.. Enumerable.Range(from, count).Select(i => "a/" + i)];

    [Test]
    public async Task Send_BatchSizeReached_SentAtOnceInBatchesOfThatSize()
    {
        // Batches of that size only: growth under fast answers is MatomoSenderBatchSizeTests'.
        Arrange(o => o.Sending.BatchSize = o.Sending.MaxBatchSize = 3);
        Enqueue(7);

        await StartAsync();
        await WaitUntilAsync(() => _writer.Calls.Count == 2);
        await AdvanceUntilAsync(() => Stats.Sent == 7, TimeSpan.FromMilliseconds(100));

        var calls = _writer.Calls;
        Assert.That(calls[0].Actions, Is.EqualTo(Actions(0, 3)));
        Assert.That(calls[1].Actions, Is.EqualTo(Actions(3, 3)));
        Assert.That(calls[2].Actions, Is.EqualTo(Actions(6, 1)));
        Assert.That(calls[0].At, Is.EqualTo(TrackerHarness.Start));
        Assert.That(calls[1].At, Is.EqualTo(TrackerHarness.Start));
        Assert.That(calls[2].At - TrackerHarness.Start, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(Stats.Sent, Is.EqualTo(7));
    }

    [Test]
    public async Task StopAsync_StartTokenAlreadyCanceled_HitsQueuedBeforeAreStillSent()
    {
        // .NET 10's BackgroundService would never run its loop here (Task.Run with the cancelled token): no drain, no count.
        Arrange();
        Enqueue(5);
        using var aborted = new CancellationTokenSource();
        await aborted.CancelAsync();

        await _sender!.StartAsync(aborted.Token).WaitAsync(RealTimeout);
        var stop = _sender.StopAsync(CancellationToken.None);
        await AdvanceUntilAsync(() => stop.IsCompleted, TimeSpan.FromMilliseconds(100));
        await stop.WaitAsync(RealTimeout);

        Assert.That(Stats.Sent, Is.EqualTo(5), Stats.ToString());
        Assert.That(_writer.Calls.SelectMany(c => c.Actions), Is.EqualTo(Actions(0, 5)));
    }

    [Test]
    public async Task StopAsync_RightAfterStart_EveryQueuedHitIsSentBeforeTheStopEnds()
    {
        // A stop that may come before the thread pool has run the loop at all, many times over.
        for (var round = 0; round < 25; round++)
        {
            Arrange();
            Enqueue(3);

            await StartAsync();
            var stop = _sender!.StopAsync(CancellationToken.None);
            await AdvanceUntilAsync(() => stop.IsCompleted, TimeSpan.FromMilliseconds(100));
            await stop.WaitAsync(RealTimeout);

            Assert.That(Stats.Sent, Is.EqualTo(3), $"round {round}: {Stats}");
            _sender.Dispose();
            _sender = null;
            _harness.Dispose();
        }
    }

    [Test]
    public async Task Send_FewerHitsThanBatchSize_SentWhenFlushIntervalPasses()
    {
        Arrange();
        Enqueue(2);

        await StartAsync();
        await WaitUntilAsync(() => _harness.Queue.Waiting == 0 && _clock.Armed > 0); // the sender holds the hits, parked on its flush timer
        _harness.Time.Advance(TimeSpan.FromMilliseconds(999));
        var before = _writer.Calls.Count;
        _harness.Time.Advance(TimeSpan.FromMilliseconds(1));
        await WaitUntilAsync(() => _writer.Calls.Count == 1);

        Assert.That(before, Is.Zero, "sent before the flush interval");
        Assert.That(_writer.Calls[0].Actions, Is.EqualTo(Actions(0, 2)));
        Assert.That(_writer.Calls[0].At - TrackerHarness.Start, Is.EqualTo(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public async Task Send_HitsStartWithQuestionMark_AsBulkRequiresThem()
    {
        Arrange(o => o.Sending.BatchSize = 2);
        Enqueue(2);

        await StartAsync();
        await WaitUntilAsync(() => _writer.Calls.Count == 1);

        Assert.That(_writer.Calls[0].Queries, Has.All.StartWith("?idsite=1&rec=1&"));
    }

    [Test]
    public async Task Send_TransientFailures_BackOffCappedWithJitterAndKeepTheHits()
    {
        Arrange(o => o.Sending.BatchSize = 3);
        const int failures = 8;
        _writer.Answer = (index, hits) => index < failures ? new SendResult(SendStatus.Transient, StatusCode: 503, Reason: "HTTP 503") : SendResult.Ok(hits.Count);
        Enqueue(3);

        await StartAsync();
        await AdvanceUntilAsync(() => Stats.Sent == 3, TimeSpan.FromMilliseconds(20));
        await WaitUntilAsync(() => _logger.EventNames.Contains("SendRecovered"));

        var calls = _writer.Calls;
        var delays = calls.Zip(calls.Skip(1), (a, b) => (b.At - a.At).TotalSeconds).ToArray();
        const double step = 0.06;
        Assert.That(calls, Has.Count.EqualTo(failures + 1));
        Assert.That(calls.Select(c => string.Join("&&", c.Queries)).Distinct().Count(), Is.EqualTo(1), "every retry sends the same hits");
        Assert.That(delays[0], Is.InRange(0.8, 1.2 + step));
        Assert.That(delays[1], Is.InRange(1.6, 2.4 + step));
        Assert.That(delays.Skip(2), Has.All.InRange(0.8 * 4, 4 + step), "capped at RetryMaxDelay, jitter included");
        Assert.That(Stats.Retried, Is.EqualTo(failures));
        Assert.That(Stats.Dropped, Is.Zero);
        Assert.That(_logger.EventNames.Count(n => n == "SendRetrying"), Is.EqualTo(failures));
        Assert.That(_logger.EventNames, Does.Contain("SendRecovered"));
    }

    [TestCase(10, 10)]
    [TestCase(60, 30)]
    public async Task Send_RetryAfter_HonouredUpToMaxDelay(int retryAfterSeconds, int expectedSeconds)
    {
        Arrange(o => o.Sending.RetryMaxDelay = TimeSpan.FromSeconds(30));
        _writer.Answer = (index, hits) => index == 0
            ? new SendResult(SendStatus.Transient, StatusCode: 429, Reason: "HTTP 429", RetryAfter: TimeSpan.FromSeconds(retryAfterSeconds))
            : SendResult.Ok(hits.Count);
        Enqueue(1);

        await StartAsync();
        await AdvanceUntilAsync(() => Stats.Sent == 1, TimeSpan.FromMilliseconds(100));

        var delay = _writer.Calls[1].At - _writer.Calls[0].At;
        Assert.That(delay.TotalSeconds, Is.InRange(expectedSeconds, expectedSeconds + 0.3));
    }

    [Test]
    public async Task Send_RollbackByPoisonedHit_SplitUntilItStandsAloneDroppedOthersSent()
    {
        Arrange(o => o.Sending.BatchSize = 8);
        _writer.Answer = (_, hits) => hits.Any(h => h.Action == "a/5")
            ? new SendResult(SendStatus.RolledBack, StatusCode: 500, Reason: "HTTP 500")
            : SendResult.Ok(hits.Count);
        Enqueue(8);

        await StartAsync();
        await AdvanceUntilAsync(() => Stats.Sent + Stats.Dropped == 8, TimeSpan.FromMilliseconds(100));
        await WaitUntilAsync(() => _logger.EventNames.Contains("PoisonedHitDropped"));

        var calls = _writer.Calls;
        var accepted = calls.Where(c => !c.Actions.Contains("a/5")).SelectMany(c => c.Actions).ToList();
        Assert.That(calls.Select(c => c.Actions.Length), Is.EqualTo(new[] { 8, 8, 8, 4, 4, 2, 1, 1, 2 }));
        Assert.That(accepted, Is.EquivalentTo(Actions(0, 8).Where(a => a != "a/5")), "each other hit sent exactly once");
        Assert.That(calls.Last(c => c.Actions.Contains("a/5")).Actions, Is.EqualTo(new[] { "a/5" }));
        Assert.That(Stats.Sent, Is.EqualTo(7));
        Assert.That(Stats.Dropped, Is.EqualTo(1));
        Assert.That(_logger.EventNames.Count(n => n == "PoisonedHitDropped"), Is.EqualTo(1));
        Assert.That(_logger.EventNames.Count(n => n == "BatchRolledBack"), Is.EqualTo(1));
    }

    [Test]
    public async Task Send_RollbackWithNothingAnswered_RetriedBeforeSplitting()
    {
        Arrange(o => o.Sending.BatchSize = 8);
        _writer.Answer = (index, hits) => index < 2 ? new SendResult(SendStatus.RolledBack, StatusCode: 500) : SendResult.Ok(hits.Count);
        Enqueue(8);

        await StartAsync();
        await AdvanceUntilAsync(() => Stats.Sent == 8, TimeSpan.FromMilliseconds(100));

        Assert.That(_writer.Calls.Select(c => c.Actions.Length), Is.EqualTo(new[] { 8, 8, 8 }));
        Assert.That(_writer.Calls[1].At - _writer.Calls[0].At, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.8)), "backed off before retrying");
        Assert.That(Stats.Dropped, Is.Zero);
        Assert.That(_logger.EventNames, Does.Not.Contain("BatchRolledBack"));
    }

    [Test]
    public async Task Send_EverythingRolledBackUntilMatomoRecovers_NothingDropped()
    {
        Arrange(o => o.Sending.BatchSize = 8);
        _writer.Answer = (index, hits) => index < 10 ? new SendResult(SendStatus.RolledBack, StatusCode: 500) : SendResult.Ok(hits.Count);
        Enqueue(8);

        await StartAsync();
        await AdvanceUntilAsync(() => Stats.Sent == 8, TimeSpan.FromMilliseconds(100));

        Assert.That(_writer.Calls.Select(c => c.Actions.Length), Is.EqualTo(new[] { 8, 8, 8, 4, 2, 1, 1, 1, 1, 1, 1, 1, 2, 4 }));
        Assert.That(Stats.Dropped, Is.Zero, "a database outage (500 for everything) is not a poisoned hit");
        Assert.That(_logger.EventNames, Does.Not.Contain("PoisonedHitDropped"));
    }

    [Test]
    public async Task Send_PoisonedHitAloneInItsBatch_DroppedAfterBoundedRetriesThenNextSent()
    {
        Arrange(o => o.Sending.BatchSize = 1);
        _writer.Answer = (_, hits) => hits[0].Action == "a/0" ? new SendResult(SendStatus.RolledBack, StatusCode: 500) : SendResult.Ok(hits.Count);
        Enqueue(2);

        await StartAsync();
        await AdvanceUntilAsync(() => Stats.Sent == 1, TimeSpan.FromMilliseconds(100));

        Assert.That(_writer.Calls.Count(c => c.Actions[0] == "a/0"), Is.EqualTo(11), "1 + 2 rollback retries + 8 outage retries");
        Assert.That(Stats.Dropped, Is.EqualTo(1));
        Assert.That(_writer.Calls[^1].Actions, Is.EqualTo(new[] { "a/1" }));
    }

    [TestCase(401)]
    [TestCase(404)]
    public async Task Send_Refused_CountedRejectedNotRetriedNextBatchSent(int status)
    {
        Arrange(o => o.Sending.BatchSize = 3);
        _writer.Answer = (index, hits) => index == 0 ? new SendResult(SendStatus.Refused, StatusCode: status) : SendResult.Ok(hits.Count);
        Enqueue(3);

        await StartAsync();
        await WaitUntilAsync(() => Stats.Rejected == 3);
        Enqueue(3, from: 3);
        await WaitUntilAsync(() => Stats.Sent == 3);

        Assert.That(_writer.Calls, Has.Count.EqualTo(2));
        Assert.That(_writer.Calls[1].Actions, Is.EqualTo(Actions(3, 3)));
        Assert.That(Stats.Retried, Is.Zero);
        Assert.That(_logger.EventNames, Does.Contain("RequestRefused"));
    }

    [Test]
    public async Task Send_AnswerWithInvalid_InvalidCountedRejected()
    {
        Arrange(o => o.Sending.BatchSize = 3);
        _writer.Answer = (_, _) => SendResult.Ok(2, invalid: 1);
        Enqueue(3);

        await StartAsync();
        await WaitUntilAsync(() => Stats.Sent + Stats.Rejected == 3);
        await WaitUntilAsync(() => _logger.EventNames.Contains("HitsRejected"));

        Assert.That(Stats.Sent, Is.EqualTo(2));
        Assert.That(Stats.Rejected, Is.EqualTo(1));
        Assert.That(_logger.EventNames, Does.Contain("HitsRejected"));
    }

    [Test]
    public async Task Send_AnswerCountingFewerThanSent_RestCountedRejected()
    {
        Arrange(o => o.Sending.BatchSize = 3);
        _writer.Answer = (_, _) => SendResult.Ok(0);
        Enqueue(3);

        await StartAsync();
        await WaitUntilAsync(() => Stats.Rejected == 3);
        await WaitUntilAsync(() => _logger.EventNames.Contains("UnexpectedAnswer"));

        Assert.That(Stats.Sent, Is.Zero);
        Assert.That(_logger.EventNames, Does.Contain("UnexpectedAnswer"));
    }

    [Test]
    public async Task Send_HitsOlderThan24HoursWithoutToken_DroppedAsExpired()
    {
        Arrange(o => o.Sending.BatchSize = 4);
        Enqueue(3);
        _harness.Time.Advance(TimeSpan.FromHours(24));
        Enqueue(1, from: 3);

        await StartAsync();
        await WaitUntilAsync(() => Stats.Sent == 1);

        Assert.That(_writer.Calls.Single().Actions, Is.EqualTo(new[] { "a/3" }));
        Assert.That(Stats.Dropped, Is.EqualTo(3));
        Assert.That(_logger.EventNames, Does.Contain("ExpiredHitsDropped"));
    }

    [Test]
    public async Task Send_HitsOlderThan24HoursWithToken_Sent()
    {
        Arrange(o =>
        {
            o.Sending.BatchSize = 4;
            o.TokenAuth = "token";
        });
        Enqueue(3);
        _harness.Time.Advance(TimeSpan.FromHours(30));
        Enqueue(1, from: 3);

        await StartAsync();
        await WaitUntilAsync(() => Stats.Sent == 4);

        Assert.That(Stats.Dropped, Is.Zero);
    }

    [TestCase(MatomoFullQueuePolicy.DropNewest, 0, 5)]
    [TestCase(MatomoFullQueuePolicy.DropOldest, 3, 8)]
    public async Task Enqueue_QueueFull_DropsCountedExactlyByPolicy(MatomoFullQueuePolicy policy, int firstKept, int queued)
    {
        Arrange(o =>
        {
            o.Sending.QueueCapacity = 5;
            o.Sending.FullQueuePolicy = policy;
            o.Sending.BatchSize = 10;
        });

        for (var i = 0; i < 8; i++)
        {
            _harness.Tracker.StartCall("a/" + i, MatomoCallKind.Unary)!.Complete();
        }

        var dropped = Stats.Dropped;
        await StartAsync();
        await AdvanceUntilAsync(() => Stats.Sent == 5, TimeSpan.FromMilliseconds(100));
        await WaitUntilAsync(() => _logger.EventNames.Contains("HitsDropped")); // logged after the batch, as a count

        Assert.That(dropped, Is.EqualTo(3));
        Assert.That(Stats.Queued, Is.EqualTo(queued));
        Assert.That(_writer.Calls.SelectMany(c => c.Actions), Is.EqualTo(Actions(firstKept, 5)));
        Assert.That(_logger.Entries.Count(e => e.EventName == "HitsDropped"), Is.EqualTo(1), "drops are logged as one count, not per hit");
    }

    [Test]
    public async Task StopAsync_WithinDeadline_DrainsEverything()
    {
        Arrange(o => o.Sending.BatchSize = 5);
        _writer.Manual = true;
        Enqueue(10);
        await StartAsync();
        var first = await _writer.NextAsync();

        var stop = _sender!.StopAsync(CancellationToken.None);
        first.Result.SetResult(SendResult.Ok(5));
        var second = await _writer.NextAsync();
        second.Result.SetResult(SendResult.Ok(5));
        await stop.WaitAsync(RealTimeout);
        var late = _harness.Tracker.StartCall("a/late", MatomoCallKind.Unary)!.Complete();

        Assert.That(Stats.Sent, Is.EqualTo(10));
        Assert.That(late, Is.False, "a hit after stop is not queued");
        Assert.That(Stats.Dropped, Is.EqualTo(1), "only the late hit");
        Assert.That(_logger.EventNames, Does.Not.Contain("ShutdownDropped"));
    }

    [Test]
    public async Task StopAsync_DeadlinePasses_StopsAndCountsWhatIsLeft()
    {
        Arrange(o => o.Sending.BatchSize = 5);
        _writer.Manual = true;
        Enqueue(10);
        await StartAsync();
        await _writer.NextAsync();

        var stop = _sender!.StopAsync(CancellationToken.None);
        var stoppedEarly = stop.IsCompleted || _writer.Calls[0].Token.IsCancellationRequested;
        _harness.Time.Advance(TimeSpan.FromSeconds(4.999));
        stoppedEarly |= _writer.Calls[0].Token.IsCancellationRequested;
        _harness.Time.Advance(TimeSpan.FromMilliseconds(1));
        await stop.WaitAsync(RealTimeout);

        Assert.That(stoppedEarly, Is.False, "stopped before the deadline");
        Assert.That(Stats.Sent, Is.Zero);
        Assert.That(Stats.Dropped, Is.EqualTo(10));
        Assert.That(_logger.EventNames, Does.Contain("ShutdownDropped"));
    }

    [Test]
    public async Task Send_WriterThrowsNonHttpException_RetriedWithBackoffNothingDropped()
    {
        Arrange(o => o.Sending.BatchSize = 2);
        _writer.Answer = (index, hits) => index == 0 ? throw new TimeoutException("an app's handler timed out") : SendResult.Ok(hits.Count);
        Enqueue(2);

        await StartAsync();
        await AdvanceUntilAsync(() => Stats.Sent == 2, TimeSpan.FromMilliseconds(100));

        Assert.That(_writer.Calls, Has.Count.EqualTo(2));
        Assert.That(_writer.Calls[1].Actions, Is.EqualTo(Actions(0, 2)), "the same hits, retried");
        Assert.That(_writer.Calls[1].At - _writer.Calls[0].At, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.8)), "after a backoff");
        Assert.That(Stats.Dropped, Is.Zero);
        Assert.That(Stats.Retried, Is.EqualTo(1));
        Assert.That(_logger.Entries.Single(e => e.EventName == "SendFailing").Text, Does.Contain("TimeoutException: an app's handler timed out"));
        Assert.That(_logger.EventNames, Does.Not.Contain("SenderFailed"));
    }

    [Test]
    public async Task Send_FaultAfterPartOfTheBatchWasCounted_EachHitCountedOnce()
    {
        Arrange(o =>
        {
            o.TrackCrashes = true;
            o.Sending.BatchSize = 3;
        });
        // A logging provider of the app that throws: here, on the line about the batch's invalid hit.
        _sender!.Dispose();
        _sender = _harness.Sender(_writer, _clock, new ThrowingLogger("HitsRejected", _logger));
        _writer.Answer = (_, hits) => hits[0].IsCrash ? SendResult.Ok(1) : SendResult.Ok(2, invalid: 1);
        for (var i = 0; i < 3; i++)
        {
            var failed = _harness.Tracker.StartCall("a/" + i, MatomoCallKind.Unary)!;
            failed.Complete(MatomoOutcome.Error, new InvalidOperationException("boom"));
        }

        await StartAsync();
        await WaitUntilAsync(() => _logger.EventNames.Contains("SenderFailed"));
        await WaitUntilAsync(() => Stats.Dropped == 3);

        Assert.That(_writer.Calls, Has.Count.EqualTo(1), "the crash hits were not sent");
        Assert.That((Stats.Sent, Stats.Rejected, Stats.Dropped), Is.EqualTo((2L, 1L, 3L)), "the batch's 3 hits as answered, its 3 crash hits dropped: " + Stats);
        Assert.That(_harness.Queue.Count, Is.Zero);
    }

    [Test]
    public async Task Enqueue_SenderHoldsARetryingBatch_HeldHitsCountAgainstQueueCapacity()
    {
        Arrange(o =>
        {
            o.Sending.QueueCapacity = 20;
            o.Sending.BatchSize = 10;
        });
        _writer.Answer = (_, _) => new SendResult(SendStatus.Transient, StatusCode: 503, Reason: "HTTP 503");
        Enqueue(10);
        await StartAsync();
        await WaitUntilAsync(() => _writer.Calls.Count == 1); // the sender holds 10 hits and retries them

        var accepted = Enumerable.Range(10, 15).Count(i => _harness.Tracker.StartCall("a/" + i, MatomoCallKind.Unary)!.Complete());
        var held = Stats.QueueLength;

        Assert.That(accepted, Is.EqualTo(10));
        Assert.That(held, Is.EqualTo(20));
        Assert.That(Stats.Dropped, Is.EqualTo(5));
        Assert.That(_harness.Queue.Waiting, Is.EqualTo(10));
    }

    [Test]
    public async Task Send_MatomoFailingForMinutesThenBack_OneLineWhenItBeginsOnePerFiveMinutesOneWhenItEnds()
    {
        Arrange(o => o.Sending.BatchSize = 2);
        var down = true;
        _writer.Answer = (_, hits) => Volatile.Read(ref down) ? new SendResult(SendStatus.Transient, Reason: "ConnectionError: Connection refused") : SendResult.Ok(hits.Count);
        Enqueue(2);

        await StartAsync();
        await AdvanceUntilAsync(() => _harness.Time.GetUtcNow() - TrackerHarness.Start >= TimeSpan.FromMinutes(6), TimeSpan.FromSeconds(1));
        Volatile.Write(ref down, false);
        await AdvanceUntilAsync(() => Stats.Sent == 2, TimeSpan.FromSeconds(1));
        await WaitUntilAsync(() => _logger.EventNames.Contains("SendRecovered"));

        var warnings = _logger.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning).Select(e => e.EventName);
        Assert.That(warnings, Is.EqualTo(new[] { "SendFailing", "SendStillFailing" }));
        Assert.That(_logger.EventNames.Count(n => n == "SendRetrying"), Is.GreaterThan(80), "each retry only at Debug");
        Assert.That(_logger.EventNames.Count(n => n == "SendRecovered"), Is.EqualTo(1));
    }

    [Test]
    public async Task Send_CrashTracking_CrashHitSentAloneAfterItsBatch()
    {
        Arrange(o =>
        {
            o.TrackCrashes = true;
            o.Sending.BatchSize = 2;
        });
        var failed = _harness.Tracker.StartCall("a/0", MatomoCallKind.Unary)!;
        failed.Complete(MatomoOutcome.Error, new InvalidOperationException("boom"));
        Enqueue(1, from: 1);

        await StartAsync();
        await WaitUntilAsync(() => _writer.Calls.Count == 2);

        Assert.That(_writer.Calls[0].Actions, Is.EqualTo(Actions(0, 2)));
        Assert.That(_writer.Calls[0].Queries, Has.None.Contains("&ca=1"));
        Assert.That(_writer.Calls[1].Queries.Single(), Does.Contain("&ca=1&cra=boom"));
    }

    /// <summary>A logger that throws on one event, as a broken logging provider of the app would.</summary>
    private sealed class ThrowingLogger(string eventName, CapturingLogger inner) : Microsoft.Extensions.Logging.ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            inner.Log(logLevel, eventId, state, exception, formatter);
            if (eventId.Name == eventName)
            {
                throw new InvalidOperationException("the logging provider failed");
            }
        }
    }
}
