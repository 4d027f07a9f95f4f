using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests.Delivery;

/// <summary>
/// Where the sender's next batch comes from, one look at a time, on a fake clock (batches of 3, 1 s flush interval):
/// full batches at once, partial ones at the flush interval, a visitor's hits one batch at a time, replayed spool files
/// taking turns with live batches, and what is left at a stop.
/// </summary>
[TestFixture]
public class BatchSourceTests : SenderPartsFixture
{
    private BatchSource Source => Parts.Source;

    private Batch? Take() => Source.Take(CancellationToken.None);

    private static string[] Live(string prefix, int from, int count) => [.. Enumerable.Range(from, count).Select(i => prefix + i)];

    [Test]
    public void Take_AFullBatchWaiting_TakesItAtOnce()
    {
        Arrange();
        Parts.Enqueue(4);

        using var batch = Take();

        Assert.That(batch is null ? null : SenderParts.Actions(batch), Is.EqualTo(Live("a/", 0, 3)));
    }

    /// <summary>Two hits ready, fewer than a batch: nothing to take yet, so the source waits.</summary>
    private Task WaitWithTwoReadyAsync()
    {
        Arrange();
        Parts.Enqueue(2);
        Assert.That(Take(), Is.Null);
        return Source.WaitAsync(CancellationToken.None);
    }

    [Test]
    public async Task Take_FewerThanABatch_TakesThemWhenTheFlushIntervalHasPassedOnTheClock()
    {
        var wait = WaitWithTwoReadyAsync();
        Parts.Harness.Time.Advance(TimeSpan.FromMilliseconds(999));
        var early = wait.IsCompleted;
        Parts.Harness.Time.Advance(TimeSpan.FromMilliseconds(1));
        await wait.WaitAsync(SenderParts.Timeout);
        using var batch = Take();

        Assert.That(early, Is.False, "woken before the flush interval");
        Assert.That(batch is null ? null : SenderParts.Actions(batch), Is.EqualTo(Live("a/", 0, 2)));
    }

    [Test]
    public async Task WaitAsync_TheHitsThatFillABatchArrive_EndsBeforeTheFlushInterval()
    {
        var wait = WaitWithTwoReadyAsync();
        Parts.Enqueue(1, "b/");
        await wait.WaitAsync(SenderParts.Timeout);
        using var batch = Take();

        Assert.That(batch?.Size, Is.EqualTo(3));
    }

    [Test]
    public void Take_AVisitorsBatchInFlight_HoldsItsLaterHitsUntilThatBatchIsFreed()
    {
        Arrange();
        Parts.Enqueue(5);
        using var first = Take()!;
        Parts.Harness.Time.Advance(TimeSpan.FromSeconds(2));

        var whileInFlight = Take();
        Source.Free(first);
        var atFree = Take();
        Parts.Harness.Time.Advance(TimeSpan.FromSeconds(1));
        using var afterFree = Take();

        Assert.That(whileInFlight, Is.Null);
        Assert.That(atFree, Is.Null, "freed hits are a partial batch: ready from now, taken at the flush interval");
        Assert.That(afterFree is null ? null : SenderParts.Actions(afterFree), Is.EqualTo(Live("a/", 3, 2)));
    }

    [Test]
    public void Take_StoppedQueue_TakesAPartialBatchAtOnceAndIsDrainedOnceItIsFreed()
    {
        Arrange();
        Parts.Enqueue(2);
        Parts.Queue.Complete();

        using var batch = Take()!;
        var whileInFlight = (Take(), Source.Drained);
        Source.Free(batch);
        var afterFree = (Take(), Source.Drained);

        Assert.That(batch.Size, Is.EqualTo(2));
        Assert.That(whileInFlight, Is.EqualTo(((Batch?)null, false)));
        Assert.That(afterFree, Is.EqualTo(((Batch?)null, true)));
    }

    [Test]
    public void Take_SizerGrown_TakesTheGrownSizeAsAFullBatch()
    {
        Arrange();
        Grow(Parts.Delivery.Sizer, 6);
        Parts.Enqueue(8, visitors: true);

        using var batch = Take();

        Assert.That(batch?.Size, Is.EqualTo(6));
        Assert.That(batch?.FullAt, Is.EqualTo(6), "taken full: its answer may grow the batches or the requests in flight");
        Assert.That(batch?.Backlogged, Is.True, "2 more hits waited");
    }

    [Test]
    public void Take_ExactlyABatchReady_IsFullButNotBacklogged()
    {
        Arrange();
        Parts.Enqueue(3, visitors: true);

        using var batch = Take();

        Assert.That(batch?.FullAt, Is.EqualTo(3));
        Assert.That(batch?.Backlogged, Is.False, "no hit waited beyond the batch: growing it would only make the next hits wait");
    }

    [Test]
    public async Task Take_AGrownBatchNotFilledWithinTheFlushInterval_HalvesTheSize()
    {
        Arrange();
        Grow(Parts.Delivery.Sizer, 12);
        Parts.Enqueue(5, visitors: true);
        Assert.That(Take(), Is.Null);
        var wait = Source.WaitAsync(CancellationToken.None);
        Parts.Harness.Time.Advance(TimeSpan.FromSeconds(1));
        await wait.WaitAsync(SenderParts.Timeout);

        using var batch = Take();

        Assert.That(batch?.Size, Is.EqualTo(5));
        Assert.That(Parts.Delivery.Sizer.Size, Is.EqualTo(6), "hits come slower than batches of 12 need: the next hits should not wait as long");
    }

    [Test]
    public async Task Take_PartialBatchAtTheFlushInterval_IsNotFull()
    {
        var wait = WaitWithTwoReadyAsync();
        Parts.Harness.Time.Advance(TimeSpan.FromSeconds(1));
        await wait.WaitAsync(SenderParts.Timeout);

        using var batch = Take();

        Assert.That(batch?.Size, Is.EqualTo(2));
        Assert.That(batch?.FullAt, Is.EqualTo(int.MaxValue), "hits came slower than batches carry them");
    }

    [Test]
    public void Take_MatomoQueuesHits_KeepsBatchSizeWhateverTheSizer()
    {
        Arrange();
        Grow(Parts.Delivery.Sizer, 12);
        Parts.Harness.CheckState.SetMatomoQueues();
        Parts.Enqueue(8, visitors: true);

        using var batch = Take();

        Assert.That(batch?.Size, Is.EqualTo(3), "under QueuedTracking a refused hit drops the rest of its request: BatchSize is the documented bound");
    }

    [Test]
    public void Take_GrownBeyondBatchSize_StopsAtTheByteLimitButNeverBelowBatchSize()
    {
        Arrange();
        Parts.Enqueue(8);
        var lanes = new VisitorLanes(3, Parts.Delivery.Prepare, maxGrownBytes: 1);
        for (var i = 0; i < 8; i++)
        {
            lanes.Add(0, Parts.Harness.TakeHit());
        }

        using var batch = lanes.Take(size: 6, full: true);

        Assert.That(batch?.Size, Is.EqualTo(3), "BatchSize hits always; no more once their bytes reach the limit");
        Assert.That(batch?.FullAt, Is.EqualTo(3), "full at what it took");
        Assert.That(lanes.Count, Is.EqualTo(5));
    }

    [Test]
    public void Take_AbortRequested_Throws()
    {
        Arrange();
        using var abort = new CancellationTokenSource();
        abort.Cancel();

        Assert.That(() => Source.Take(abort.Token), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public void Take_SpoolFilesAndLiveBatches_TakeTurnsSpoolFirst()
    {
        Arrange(withSpool: true);
        Parts.SpoolFiles(files: 2, hits: 2);
        Parts.Enqueue(6, visitors: true);

        var taken = new List<string>();
        while (Take() is { } batch)
        {
            taken.Add(batch.FromSpool is null ? "live" : "spool");
            Source.Free(batch);
            batch.Dispose();
        }

        Assert.That(taken, Is.EqualTo(new[] { "spool", "live", "spool", "live" }));
    }

    [Test]
    public void Take_NoLiveHitReady_ReplaysTheNextFileOutOfTurn()
    {
        Arrange(withSpool: true);
        Parts.SpoolFiles(files: 2, hits: 2);

        using var first = Take();
        using var second = Take();

        Assert.That(first is null ? null : SenderParts.Actions(first), Is.EqualTo(Live("r0/", 0, 2)));
        Assert.That(second is null ? null : SenderParts.Actions(second), Is.EqualTo(Live("r1/", 0, 2)));
    }

    [Test]
    public void Take_MatomoFailing_ReplaysNothing()
    {
        Arrange(withSpool: true);
        Parts.SpoolFiles(files: 1, hits: 2);
        Parts.Health.Failed("down");

        var batch = Take();

        Assert.That(batch, Is.Null);
        Assert.That(Parts.Spool!.Waiting, Is.EqualTo(2));
    }

    [Test]
    public async Task Take_SpoolReplayedToTheEnd_LogsTheReplayOnceAtItsStartAndOnceAtItsEnd()
    {
        Arrange(withSpool: true);
        Parts.SpoolFiles(files: 2, hits: 2);

        foreach (var _ in Enumerable.Range(0, 2))
        {
            using var replay = Take()!;
            Assert.That((await Parts.Delivery.DeliverAsync(replay, CancellationToken.None)).Done, Is.True);
        }

        var last = Take();

        Assert.That(last, Is.Null);
        Assert.That(Parts.EventCount("SpoolReplaying"), Is.EqualTo(1));
        Assert.That(Parts.EventCount("SpoolReplayed"), Is.EqualTo(1));
        Assert.That(Parts.Stats.Replayed, Is.EqualTo(4));
    }

    [Test]
    public void Take_StoppingWhileMatomoFails_PutsWhatTheLanesHoldOnDisk()
    {
        Arrange(withSpool: true);
        Parts.Health.Failed("down");
        Parts.Enqueue(2);
        Parts.Stopping = true;

        var batch = Take();

        Assert.That(batch, Is.Null);
        Assert.That(Parts.Spool!.Waiting, Is.EqualTo(2));
        Assert.That(Parts.Stats.Dropped, Is.Zero);
    }

    [Test]
    public void SettleAtStop_WithoutSpool_DropsWhatTheLanesAndTheQueueHoldAsShutdownAndLogsIt()
    {
        Arrange();
        Parts.Enqueue(2);
        Assert.That(Take(), Is.Null, "two hits in the lanes, waiting for the flush interval");
        Parts.Enqueue(3, "b/");

        Source.SettleAtStop(abandonedByRuns: 0, spooledBefore: 0);

        Assert.That(Parts.Stats.Dropped, Is.EqualTo(5));
        Assert.That(Parts.Queue.Count, Is.Zero);
        Assert.That(Parts.EventCount("ShutdownDropped"), Is.EqualTo(1));
    }

    [Test]
    public void SettleAtStop_NothingLeftAndNoRunCutShort_LogsNoDrop()
    {
        Arrange();

        Source.SettleAtStop(abandonedByRuns: 0, spooledBefore: 0);

        Assert.That(Parts.EventCount("ShutdownDropped"), Is.Zero);
    }

    [Test]
    public void SettleAtStop_ARunCutShort_LogsItsDrops()
    {
        Arrange();

        Source.SettleAtStop(abandonedByRuns: 4, spooledBefore: 0);

        Assert.That(Parts.EventCount("ShutdownDropped"), Is.EqualTo(1));
    }

    [Test]
    public void SettleAtStop_WithSpool_KeepsWhatTheLanesAndTheQueueHoldOnDiskAndLogsIt()
    {
        Arrange(withSpool: true);
        Parts.Enqueue(2);
        Assert.That(Take(), Is.Null);
        Parts.Enqueue(3, "b/");

        Source.SettleAtStop(abandonedByRuns: 0, spooledBefore: 0);

        Assert.That(Parts.Stats.Dropped, Is.Zero);
        Assert.That(Parts.Spool!.Waiting, Is.EqualTo(5));
        Assert.That(Parts.EventCount("SpoolKeptAtStop"), Is.EqualTo(1));
        Assert.That(Parts.EventCount("ShutdownDropped"), Is.Zero);
    }

    /// <summary>Grows the sizer (from BatchSize 3) to <paramref name="size"/> with fast answers to full batches.</summary>
    private void Grow(BatchSizer sizer, int size)
    {
        while (sizer.Size < size)
        {
            sizer.Answered(Parts.Harness.Time.GetTimestamp(), TimeSpan.FromMilliseconds(1), sizer.Size, full: true);
        }

        Assume.That(sizer.Size, Is.EqualTo(size));
    }
}
