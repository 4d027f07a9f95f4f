using Matomo.Rpc.Internal;
using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests.Delivery;

/// <summary>The live batches' size, driven by scripted answers on a fake clock (BatchSize 100, MaxBatchSize 1000).</summary>
public class BatchSizerTests
{
    private static readonly TimeSpan HttpTimeout = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));

    [Test]
    public void Answered_FullBatchesAnsweredFast_DoublesUpToTheCeiling()
    {
        var sizer = new BatchSizer(100, 1000, HttpTimeout, _time);
        var sizes = new List<int>();

        for (var i = 0; i < 6; i++)
        {
            sizes.Add(sizer.Size);
            Answer(sizer, TimeSpan.FromMilliseconds(5), sizer.Size);
        }

        Assert.That(sizes, Is.EqualTo(new[] { 100, 200, 400, 800, 1000, 1000 }));
    }

    [Test]
    public void Answered_BatchesNotFull_StaysAtBatchSize()
    {
        var sizer = new BatchSizer(100, 1000, HttpTimeout, _time);

        for (var i = 0; i < 5; i++)
        {
            Answer(sizer, TimeSpan.FromMilliseconds(1), 60, full: false);
        }

        Assert.That(sizer.Size, Is.EqualTo(100), "a batch taken at the flush interval: hits come slower than batches carry them");
    }

    [Test]
    public void Answered_AsARealMatomoStoringAFewHundredHitsASecond_StaysAtBatchSize()
    {
        // The kit's Matomo on 2 cores: ~180-470 hits/s, so 100 hits take 0.2-0.55 s.
        var sizer = new BatchSizer(100, 1000, HttpTimeout, _time);

        foreach (var ms in new[] { 210, 550, 300, 400, 260 })
        {
            Answer(sizer, TimeSpan.FromMilliseconds(ms), 100);
        }

        Assert.That(sizer.Size, Is.EqualTo(100));
    }

    [Test]
    public void Answered_TwiceTheBatchWouldNotBeFast_HoldsTheSize()
    {
        var sizer = GrownTo(400);

        // 400 hits in 60 ms: 800 would take ~120 ms, beyond the fast answer; 60 ms is not slow either.
        for (var i = 0; i < 5; i++)
        {
            Answer(sizer, TimeSpan.FromMilliseconds(60), 400);
        }

        Assert.That(sizer.Size, Is.EqualTo(400));
    }

    [Test]
    public void Answered_SlowerThanTheSlowAnswer_HalvesDownToBatchSize()
    {
        var sizer = GrownTo(800);
        var sizes = new List<int>();

        for (var i = 0; i < 4; i++)
        {
            Answer(sizer, BatchSizer.SlowAnswer + TimeSpan.FromMilliseconds(1), sizer.Size);
            sizes.Add(sizer.Size);
        }

        Assert.That(sizes, Is.EqualTo(new[] { 400, 200, 100, 100 }));
    }

    [Test]
    public void Failed_SeveralRequestsOfOneRound_HalvesOnce()
    {
        var sizer = GrownTo(800);
        var sent = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(50));

        sizer.Failed(sent);
        sizer.Failed(sent);
        var afterOneRound = sizer.Size;
        var later = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(50));
        sizer.Failed(later);

        Assert.That(afterOneRound, Is.EqualTo(400), "the requests in flight together carry one piece of news");
        Assert.That(sizer.Size, Is.EqualTo(200), "a request sent after the decrease that fails again halves again");
    }

    [Test]
    public void Unfilled_BatchesNoLongerFill_HalvesDownToBatchSize()
    {
        var sizer = GrownTo(400);
        var sizes = new List<int>();

        for (var i = 0; i < 3; i++)
        {
            sizer.Unfilled();
            sizes.Add(sizer.Size);
        }

        Assert.That(sizes, Is.EqualTo(new[] { 200, 100, 100 }));
    }

    [Test]
    public void Answered_FastAnswerToARequestSentBeforeAFailure_DoesNotGrow()
    {
        var sizer = GrownTo(400);
        var before = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(10));
        sizer.Failed(_time.GetTimestamp() - 1);

        sizer.Answered(before, TimeSpan.FromMilliseconds(10), 400, full: true);

        Assert.That(sizer.Size, Is.EqualTo(200));
    }

    [Test]
    public void Answered_MaxBatchSizeEqualToBatchSize_NeverGrows()
    {
        var sizer = new BatchSizer(100, 100, HttpTimeout, _time);

        for (var i = 0; i < 5; i++)
        {
            Answer(sizer, TimeSpan.FromMilliseconds(1), 100);
        }

        Assert.That(sizer.Size, Is.EqualTo(100));
    }

    [Test]
    public void Answered_ShortHttpTimeout_KeepsTheFastAndSlowAnswersWellBelowIt()
    {
        // HttpTimeout 1 s: a batch grows only while twice it is answered within 50 ms, and halves beyond 125 ms.
        var sizer = new BatchSizer(100, 1000, TimeSpan.FromSeconds(1), _time);
        Answer(sizer, TimeSpan.FromMilliseconds(30), 100);
        var afterFastEnough = sizer.Size;
        Answer(sizer, TimeSpan.FromMilliseconds(130), 200);

        Assert.That(afterFastEnough, Is.EqualTo(100), "200 hits would take ~60 ms, above 1/20 of the timeout");
        Assert.That(sizer.Size, Is.EqualTo(100));

        var grown = new BatchSizer(100, 1000, TimeSpan.FromSeconds(1), _time);
        Answer(grown, TimeSpan.FromMilliseconds(20), 100);
        Answer(grown, TimeSpan.FromMilliseconds(130), 200);
        Assert.That(grown.Size, Is.EqualTo(100), "grew to 200, then an answer slower than 1/8 of the timeout halved it");
    }

    private BatchSizer GrownTo(int size)
    {
        var sizer = new BatchSizer(100, 1000, HttpTimeout, _time);
        while (sizer.Size < size)
        {
            Answer(sizer, TimeSpan.FromMilliseconds(1), sizer.Size);
        }

        Assume.That(sizer.Size, Is.EqualTo(size));
        return sizer;
    }

    private void Answer(BatchSizer sizer, TimeSpan latency, int hits, bool full = true)
    {
        var sent = _time.GetTimestamp();
        _time.Advance(latency);
        sizer.Answered(sent, latency, hits, full);
    }
}
