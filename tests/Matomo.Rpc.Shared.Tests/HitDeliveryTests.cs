using Matomo.Rpc.Internal;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>Delivery on its own, on a fake clock: what one hand-over of a batch does and how every hit is counted.</summary>
[TestFixture]
public class HitDeliveryTests
{
    private TrackerHarness _harness = null!;
    private FakeHitWriter _writer = null!;
    private CapturingLogger _logger = null!;
    private HitDelivery _delivery = null!;

    private void Arrange(Action<MatomoOptions>? configure = null)
    {
        _harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            configure?.Invoke(o);
        });
        _writer = new FakeHitWriter(_harness.Time);
        _logger = new CapturingLogger();
        _delivery = _harness.Delivery(_writer, logger: _logger);
    }

    [TearDown]
    public void TearDown() => _harness?.Dispose();

    private MatomoStatistics Stats => _harness.Tracker.Statistics;

    /// <summary>Takes <paramref name="count"/> hits from the queue as the sender does (they keep their place until counted).</summary>
    private Batch Take(int count, int crashes = 0)
    {
        var hits = new List<PendingHit>();
        for (var i = 0; i < count; i++)
        {
            var hit = _harness.Hit("a/" + i);
            hits.Add(new PendingHit(hit, "?idsite=1&rec=1&action_name=a%2F" + i));
        }

        var crashHits = hits.Take(crashes).Select(h => new PendingHit(h.Hit!, h.Query + "&ca=1", isCrash: true)).ToList();
        return new Batch(hits, crashHits);
    }

    private static Task<DeliveryResult> DeliverAsync(HitDelivery delivery, Batch batch) =>
        delivery.DeliverAsync(batch, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

    [Test]
    public async Task DeliverAsync_413ForABatchGrownBeyondBatchSize_SplitsItAndSendsEveryHit()
    {
        Arrange(o => o.Sending.BatchSize = 3);
        _writer.Answer = (_, hits) => hits.Count > 3
            ? new SendResult(SendStatus.Refused, StatusCode: 413, Reason: "HTTP 413")
            : SendResult.Ok(hits.Count);

        var result = await DeliverAsync(_delivery, Take(8));

        Assert.That(result.Done, Is.True);
        Assert.That(_writer.Calls.Select(c => c.Actions.Length), Is.EqualTo(new[] { 8, 4, 2, 2, 4, 2, 2 }));
        Assert.That((Stats.Sent, Stats.Rejected, Stats.Dropped), Is.EqualTo((8L, 0L, 0L)), "too large for the web server: halved, never rejected");
        Assert.That(_writer.Calls.Where(c => c.Actions.Length <= 3).SelectMany(c => c.Actions), Is.EqualTo(Enumerable.Range(0, 8).Select(i => "a/" + i)));
    }

    [Test]
    public async Task DeliverAsync_413AtBatchSize_RejectsAsBefore()
    {
        Arrange(o => o.Sending.BatchSize = 3);
        _writer.Answer = (_, _) => new SendResult(SendStatus.Refused, StatusCode: 413, Reason: "HTTP 413");

        await DeliverAsync(_delivery, Take(3));

        Assert.That(_writer.Calls, Has.Count.EqualTo(1));
        Assert.That((Stats.Sent, Stats.Rejected), Is.EqualTo((0L, 3L)));
        Assert.That(_logger.Entries.Single(e => e.EventName == "RequestRefused").Text, Does.Contain("MaxBatchSize"));
    }

    [Test]
    public async Task DeliverAsync_QueuedTrackingAnswer_SentAndAcceptedWithoutCountLoggedOnce()
    {
        Arrange();
        _writer.Answer = (_, _) => new SendResult(SendStatus.Queued, StatusCode: 200);

        var first = await DeliverAsync(_delivery, Take(3));
        var second = await DeliverAsync(_delivery, Take(2));

        Assert.That(first.Done && second.Done, Is.True);
        Assert.That((Stats.Sent, Stats.AcceptedWithoutCount, Stats.Rejected, Stats.Dropped), Is.EqualTo((5L, 5L, 0L, 0L)), Stats.ToString());
        Assert.That(_harness.CheckState.MatomoQueues, Is.True);
        Assert.That(_logger.EventNames.Count(n => n == "MatomoQueuesHits"), Is.EqualTo(1));
        Assert.That(_harness.Queue.Count, Is.Zero);
    }

    [Test]
    public async Task DeliverAsync_MatomoQueuesAndAHitItWouldRefuse_ThatHitRejectedBeforeSendingTheRestSent()
    {
        Arrange();
        _harness.CheckState.SetMatomoQueues();
        _writer.Answer = (_, _) => new SendResult(SendStatus.Queued, StatusCode: 200);
        var good = _harness.Hit("a/good");
        var bad = _harness.Hit("a/bad");
        var later = _harness.Hit("a/later");
        var batch = new Batch(
            [
                new PendingHit(good, "?idsite=1&rec=1&cid=0123456789abcdef&pf_srv=12"),
                new PendingHit(bad, "?idsite=1&rec=1&cid=0123456789abcdef&pf_srv=-1"),
                new PendingHit(later, "?idsite=1&rec=1&cid=0123456789abcdef&pf_srv=3"),
            ],
            []);

        var result = await DeliverAsync(_delivery, batch);

        Assert.That(result.Done, Is.True);
        Assert.That(_writer.Calls.Single().Actions, Is.EqualTo(new[] { "a/good", "a/later" }), "the hit Matomo would refuse is not sent, so it cannot drop the later one");
        Assert.That((Stats.Sent, Stats.Rejected), Is.EqualTo((2L, 1L)), Stats.ToString());
        Assert.That(_logger.EventNames.Count(n => n == "QueuedHitRefused"), Is.EqualTo(1));
        Assert.That(_harness.Queue.Count, Is.Zero);
    }

    [Test]
    public async Task DeliverAsync_DirectMatomoAndAHitItWouldRefuse_SentForMatomoToCount()
    {
        Arrange();
        _writer.Answer = (_, hits) => SendResult.Ok(hits.Count - 1, invalid: 1);
        var hit = _harness.Hit("a/bad");

        await DeliverAsync(_delivery, new Batch([new PendingHit(hit, "?idsite=1&rec=1&pf_srv=-1")], []));

        Assert.That(_writer.Calls, Has.Count.EqualTo(1), "a Matomo that counts per hit says itself which hits it refused");
        Assert.That(Stats.Rejected, Is.EqualTo(1));
    }

    [Test]
    public async Task DeliverAsync_QueueBackendDown_RetryLaterWithTheWholeBatch()
    {
        Arrange();
        _writer.Answer = (_, _) => new SendResult(SendStatus.Transient, StatusCode: 500, Reason: "HTTP 500 from Matomo's queue");
        var batch = Take(4);

        var result = await DeliverAsync(_delivery, batch);

        Assert.That(result.Done, Is.False);
        Assert.That(batch.Unaccounted, Is.EqualTo(4), "kept whole: never split as a poisoned batch");
        Assert.That(_writer.Calls.Single().Actions, Has.Length.EqualTo(4));
        Assert.That(Stats.Sent + Stats.Rejected + Stats.Dropped, Is.Zero);
    }

    [Test]
    public async Task DeliverAsync_Answered_DeliveredEachHitCountedOnceAndItsPlaceFreed()
    {
        Arrange();
        var batch = Take(3);
        var held = _harness.Queue.Count;

        var result = await DeliverAsync(_delivery, batch);

        Assert.That(result.Done, Is.True);
        Assert.That(held, Is.EqualTo(3), "hits taken by the sender still count against the capacity");
        Assert.That(_harness.Queue.Count, Is.Zero);
        Assert.That((batch.Sent, batch.Rejected, batch.Dropped), Is.EqualTo((3, 0, 0)));
        Assert.That(Stats.Sent, Is.EqualTo(3));
    }

    [Test]
    public async Task DeliverAsync_Transient_RetryLaterWithTheReasonAndTheHitsKept()
    {
        Arrange();
        _writer.Answer = (_, _) => new SendResult(SendStatus.Transient, StatusCode: 429, Reason: "HTTP 429", RetryAfter: TimeSpan.FromSeconds(7));
        var batch = Take(2);

        var result = await DeliverAsync(_delivery, batch);

        Assert.That(result, Is.EqualTo(DeliveryResult.RetryLater("HTTP 429", TimeSpan.FromSeconds(7))));
        Assert.That(batch.Unaccounted, Is.EqualTo(2));
        Assert.That(_harness.Queue.Count, Is.EqualTo(2));
        Assert.That(Stats.Sent + Stats.Rejected + Stats.Dropped, Is.Zero);
    }

    [Test]
    public async Task DeliverAsync_WriterThrowsItsOwnException_RetryLaterWithTypeAndMessage()
    {
        Arrange();
        _writer.Answer = (_, _) => throw new TimeoutException("the app's handler gave up");
        var batch = Take(2);

        var result = await DeliverAsync(_delivery, batch);

        Assert.That(result.Done, Is.False);
        Assert.That(result.Reason, Is.EqualTo("TimeoutException: the app's handler gave up"));
        Assert.That(batch.Unaccounted, Is.EqualTo(2));
        Assert.That(Stats.Dropped, Is.Zero);
    }

    [Test]
    public async Task DeliverAsync_Refused400_CountedRejectedNotSplitNotRetried()
    {
        Arrange();
        _writer.Answer = (_, _) => new SendResult(SendStatus.Refused, StatusCode: 400, Reason: "HTTP 400: not taken as a bulk request");
        var batch = Take(4);

        var result = await DeliverAsync(_delivery, batch);

        Assert.That(result.Done, Is.True);
        Assert.That(_writer.Calls, Has.Count.EqualTo(1), "splitting cannot help when the body was not taken as a bulk request");
        Assert.That(batch.Rejected, Is.EqualTo(4));
        Assert.That(Stats.Rejected, Is.EqualTo(4));
        Assert.That(_harness.Queue.Count, Is.Zero);
        Assert.That(_logger.Entries.Single(e => e.EventName == "RequestRefused").Text, Does.Contain("Matomo:TrackerUrl").And.Contain("bulk request"));
    }

    [Test]
    public async Task DeliverAsync_SameRefusalAgain_LoggedOnceWhileItLasts()
    {
        Arrange();
        _writer.Answer = (_, _) => new SendResult(SendStatus.Refused, StatusCode: 401, Reason: "HTTP 401");

        for (var i = 0; i < 3; i++)
        {
            await DeliverAsync(_delivery, Take(1));
        }

        Assert.That(Stats.Rejected, Is.EqualTo(3));
        Assert.That(_logger.EventNames.Count(n => n == "RequestRefused"), Is.EqualTo(1));
        Assert.That(_logger.EventNames.Count(n => n == "SendFailing"), Is.EqualTo(1));
    }

    [Test]
    public async Task DeliverAsync_AnswerThatCountsNoHit_CountedRejectedAndSendingFailsUntilMatomoCounts()
    {
        Arrange();
        var proxy = true;
        _writer.Answer = (_, hits) => proxy ? new SendResult(SendStatus.Answered, 0, 0, 200, "an answer that is not Matomo's bulk answer") : SendResult.Ok(hits.Count);

        await DeliverAsync(_delivery, Take(2));
        var failure = _harness.SendHealth!.Failure;
        proxy = false;
        await DeliverAsync(_delivery, Take(1));

        Assert.That(Stats.Rejected, Is.EqualTo(2));
        Assert.That(failure?.Reason, Is.EqualTo("an answer that is not Matomo's bulk answer"));
        Assert.That(_harness.SendHealth.Failure, Is.Null, "Matomo counted the next one");
        Assert.That(_logger.EventNames, Does.Contain("UnexpectedAnswer"));
    }

    [Test]
    public async Task DeliverAsync_RolledBackAfterPartAnswered_SplitsAndDropsOnlyThePoisonedHit()
    {
        Arrange();
        _writer.Answer = (_, hits) => hits.Any(h => h.Action == "a/2") ? new SendResult(SendStatus.RolledBack, StatusCode: 500) : SendResult.Ok(hits.Count);
        var batch = Take(4);

        var first = await DeliverAsync(_delivery, batch);
        var second = await DeliverAsync(_delivery, batch);
        var third = await DeliverAsync(_delivery, batch);

        Assert.That((first.Done, second.Done, third.Done), Is.EqualTo((false, false, true)), "two retries of the whole batch, then split");
        Assert.That(_writer.Calls.Select(c => c.Actions.Length), Is.EqualTo(new[] { 4, 4, 4, 2, 2, 1, 1 }));
        Assert.That((batch.Sent, batch.Rejected, batch.Dropped), Is.EqualTo((3, 0, 1)));
        Assert.That(_harness.Queue.Count, Is.Zero);
    }

    [Test]
    public async Task Abandon_AfterPartOfTheBatchWasCounted_CountsOnlyTheRest()
    {
        Arrange();
        _writer.Answer = (_, hits) => hits[0].IsCrash ? new SendResult(SendStatus.Transient, Reason: "down") : SendResult.Ok(hits.Count);
        var batch = Take(3, crashes: 2);

        var result = await DeliverAsync(_delivery, batch);
        var abandoned = _delivery.Abandon(batch, DropReasons.Shutdown);

        Assert.That(result.Done, Is.False);
        Assert.That(abandoned, Is.EqualTo(2), "the two crash hits");
        Assert.That((Stats.Sent, Stats.Rejected, Stats.Dropped), Is.EqualTo((3L, 0L, 2L)), "each hit once: " + Stats);
        Assert.That(_harness.Queue.Count, Is.Zero, "crash hits ride on their call's place");
    }

    [Test]
    public async Task DeliverAsync_CheckFoundTheTokenNotTrusted_OldHitsDroppedAsExpired()
    {
        Arrange(o => o.TokenAuth = "token");
        var batch = Take(2);
        _harness.Time.Advance(TimeSpan.FromHours(25));
        _harness.CheckState.TokenTrusted = false;

        var result = await DeliverAsync(_delivery, batch);

        Assert.That(result.Done, Is.True);
        Assert.That(_writer.Calls, Is.Empty);
        Assert.That(Stats.Dropped, Is.EqualTo(2));
        Assert.That(_harness.Queue.Count, Is.Zero);
        Assert.That(_logger.EventNames, Does.Contain("ExpiredHitsDropped"));
    }

    [Test]
    public async Task DeliverAsync_TokenTrusted_OldHitsSent()
    {
        Arrange(o => o.TokenAuth = "token");
        var batch = Take(2);
        _harness.Time.Advance(TimeSpan.FromHours(25));

        await DeliverAsync(_delivery, batch);

        Assert.That(Stats.Sent, Is.EqualTo(2));
    }

    [Test]
    public async Task DeliverAsync_FailingForMinutesThenAnswered_LoggedWhenItBeginsEveryFiveMinutesAndWhenItEnds()
    {
        Arrange();
        var down = true;
        _writer.Answer = (_, hits) => down ? new SendResult(SendStatus.Transient, Reason: "ConnectionError: Connection refused (127.0.0.1:9)") : SendResult.Ok(hits.Count);
        var batch = Take(1);

        for (var second = 0; second <= 6 * 60; second += 10)
        {
            await DeliverAsync(_delivery, batch);
            _harness.Time.Advance(TimeSpan.FromSeconds(10));
        }

        down = false;
        await DeliverAsync(_delivery, batch);

        var warnings = _logger.Entries.Where(e => e.Level >= LogLevel.Warning).ToList();
        Assert.That(_writer.Calls, Has.Count.EqualTo(38));
        Assert.That(warnings.Select(e => e.EventName), Is.EqualTo(new[] { "SendFailing", "SendStillFailing" }));
        Assert.That(warnings[0].Text, Does.Contain("Connection refused (127.0.0.1:9)"));
        Assert.That(warnings[1].Text, Does.Contain("31 requests failed").And.Contain("1 hits held"));
        Assert.That(_logger.EventNames.Count(n => n == "SendRecovered"), Is.EqualTo(1));
        Assert.That(_harness.SendHealth!.Failure, Is.Null);
    }
}
