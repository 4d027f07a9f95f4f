using Matomo.Rpc.Internal;
using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>The limiter of requests in flight, driven by scripted answer times on a fake clock.</summary>
public class ConcurrencyLimiterTests
{
    private const int Hits = 100;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan SlowAnswer = TimeSpan.FromSeconds(2.5);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));

    [Test]
    public void Answered_FullBatchesAnsweredAsFastAsEver_GrowsOneRequestPerRoundUpToTheCeiling()
    {
        var limiter = new ConcurrencyLimiter(4, SlowAnswer, _time);
        var limits = new List<int>();

        for (var round = 0; round < 6; round++)
        {
            limits.Add(limiter.Limit);
            Round(limiter, _ => TimeSpan.FromMilliseconds(400));
        }

        Assert.That(limits, Is.EqualTo(new[] { 1, 2, 3, 4, 4, 4 }));
    }

    [Test]
    public void Answered_MatomoWithFourWorkers_SettlesWhereMoreRequestsOnlyWaitThere()
    {
        // A Matomo with 4 PHP workers and 0.4 s per batch: up to 4 requests are worked on at once, more only wait.
        var limits = LimitsAgainst(ceiling: 16, seconds: 0.4, workers: 4);

        Assert.That(limits.Skip(20), Is.All.InRange(4, 5), "at least the 4 workers busy, at most one request waiting: " + string.Join(",", limits));
    }

    [Test]
    public void Answered_MatomoOnTwoCores_HoldsAboutTwoRequestsWhereFourOnlyDoubleTheAnswerTime()
    {
        // As the kit's Matomo measured on 2 cores (capacity benchmark, 09:28 UTC): 0.15 s per batch with 1 or 2 requests
        // in flight, and every request beyond 2 waits (4 in flight: 0.3 s each, the same hits per second as 2).
        var limits = LimitsAgainst(ceiling: 4, seconds: 0.15, workers: 2);

        Assert.That(limits.Skip(20), Is.All.InRange(2, 3), "both cores busy, at most one request waiting: " + string.Join(",", limits));
    }

    [Test]
    public void Answered_AnswersSlowDownWithoutMoreInFlight_Shrinks()
    {
        var limiter = new ConcurrencyLimiter(8, TimeSpan.FromSeconds(30), _time);
        for (var round = 0; round < 10; round++)
        {
            Round(limiter, _ => TimeSpan.FromMilliseconds(200));
        }

        Assume.That(limiter.Limit, Is.EqualTo(8));

        // Matomo becomes five times slower (another client fills it): the requests in flight now mostly wait there.
        for (var round = 0; round < 10; round++)
        {
            Round(limiter, _ => TimeSpan.FromSeconds(1));
        }

        Assert.That(limiter.Limit, Is.LessThan(8));
    }

    [Test]
    public void Answered_BatchesGrowAndTheirAnswersLengthenInProportion_JudgesPerHitAndHolds()
    {
        var limiter = GrownTo(4);

        // Batches of 400 instead of 100 (see BatchSizer): four times the answer time, the same time per hit.
        for (var round = 0; round < 10; round++)
        {
            Round(limiter, _ => TimeSpan.FromMilliseconds(800), hits: 4 * Hits);
        }

        Assert.That(limiter.Limit, Is.EqualTo(4), "Matomo is no busier: it works on more hits per request");
    }

    [Test]
    public void Answered_PartialBatches_DoesNotGrow()
    {
        var limiter = new ConcurrencyLimiter(4, SlowAnswer, _time);

        for (var round = 0; round < 5; round++)
        {
            Round(limiter, _ => TimeSpan.FromMilliseconds(100), full: false);
        }

        Assert.That(limiter.Limit, Is.EqualTo(1), "a batch that is not full means the queue is empty: more requests would not carry more hits");
    }

    [Test]
    public void Answered_SlowerThanHalfTheHttpTimeout_Halves()
    {
        var limiter = GrownTo(8);
        var sent = _time.GetTimestamp();

        limiter.Answered(sent, SlowAnswer + TimeSpan.FromMilliseconds(1), Hits, full: true);

        Assert.That(limiter.Limit, Is.EqualTo(4));
    }

    [Test]
    public void Overloaded_SeveralRequestsOfOneRound_HalvesOnce()
    {
        var limiter = GrownTo(8);
        var sent = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(300));

        limiter.Overloaded(sent);
        limiter.Overloaded(sent);
        limiter.Overloaded(sent);
        var afterOneRound = limiter.Limit;
        var later = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(300));
        limiter.Overloaded(later);

        Assert.That(afterOneRound, Is.EqualTo(4), "the requests in flight together carry one piece of news");
        Assert.That(limiter.Limit, Is.EqualTo(2), "a request sent after the decrease that fails again halves again");
    }

    [Test]
    public void Overloaded_AtOneRequest_StaysAtOne()
    {
        var limiter = new ConcurrencyLimiter(4, SlowAnswer, _time);

        limiter.Overloaded(_time.GetTimestamp());

        Assert.That(limiter.Limit, Is.EqualTo(1));
    }

    [Test]
    public async Task WaitAsync_AtTheLimit_WaitsForARelease()
    {
        var limiter = new ConcurrencyLimiter(4, SlowAnswer, _time);
        await limiter.WaitAsync(CancellationToken.None).WaitAsync(Timeout);

        var second = limiter.WaitAsync(CancellationToken.None);
        var waitedWhileFull = !second.IsCompleted;
        limiter.Release();
        await second.WaitAsync(Timeout);

        Assert.That(waitedWhileFull, Is.True);
        Assert.That(limiter.InFlight, Is.EqualTo(1));
    }

    [Test]
    public async Task WaitAsync_LimitGrows_WakesAWaiterAtOnce()
    {
        var limiter = new ConcurrencyLimiter(4, SlowAnswer, _time);
        await limiter.WaitAsync(CancellationToken.None).WaitAsync(Timeout);
        var sent = _time.GetTimestamp();
        var second = limiter.WaitAsync(CancellationToken.None);

        _time.Advance(TimeSpan.FromMilliseconds(200));
        limiter.Answered(sent, TimeSpan.FromMilliseconds(200), Hits, full: true);
        await second.WaitAsync(Timeout);

        Assert.That(limiter.InFlight, Is.EqualTo(2), "the answer made room for a second request before the first slot was released");
    }

    [Test]
    public void WaitAsync_Cancelled_Throws()
    {
        var limiter = new ConcurrencyLimiter(1, SlowAnswer, _time);
        _ = limiter.WaitAsync(CancellationToken.None);
        using var cancel = new CancellationTokenSource();

        var waiting = limiter.WaitAsync(cancel.Token);
        cancel.Cancel();

        Assert.That(async () => await waiting.WaitAsync(Timeout), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task Fix_AnswersSlowAndOverloaded_HoldsTheLimitAndWakesWaiters()
    {
        var limiter = new ConcurrencyLimiter(4, SlowAnswer, _time);
        await limiter.WaitAsync(CancellationToken.None).WaitAsync(Timeout);
        var second = limiter.WaitAsync(CancellationToken.None);

        limiter.Fix(3);
        await second.WaitAsync(Timeout);
        limiter.Release();
        limiter.Release();
        var sent = _time.GetTimestamp();
        _time.Advance(SlowAnswer * 2);
        limiter.Answered(sent, SlowAnswer * 2, Hits, full: true);
        limiter.Overloaded(sent);
        for (var round = 0; round < 5; round++)
        {
            Round(limiter, _ => TimeSpan.FromSeconds(1));
        }

        Assert.That(limiter.Limit, Is.EqualTo(3), "a fixed limit does not adapt (the capacity benchmark compares it with the adaptive one)");
        Assert.That(() => limiter.Fix(5), Throws.InstanceOf<ArgumentOutOfRangeException>(), "never above the ceiling");
    }

    private ConcurrencyLimiter GrownTo(int limit)
    {
        var limiter = new ConcurrencyLimiter(limit, SlowAnswer, _time);
        for (var round = 0; round < 20 && limiter.Limit < limit; round++)
        {
            Round(limiter, _ => TimeSpan.FromMilliseconds(200));
        }

        Assume.That(limiter.Limit, Is.EqualTo(limit));
        return limiter;
    }

    /// <summary>One round: as many requests as the limit allows go out together and are answered after <paramref name="latency"/> of what is in flight.</summary>
    /// <summary>The limit after each of 60 rounds against a Matomo that works on <paramref name="workers"/> requests at once.</summary>
    private List<int> LimitsAgainst(int ceiling, double seconds, int workers)
    {
        var limiter = new ConcurrencyLimiter(ceiling, TimeSpan.FromSeconds(30), _time);
        var limits = new List<int>();
        for (var round = 0; round < 60; round++)
        {
            Round(limiter, inFlight => TimeSpan.FromSeconds(seconds * Math.Max(1, inFlight / (double)workers)));
            limits.Add(limiter.Limit);
        }

        return limits;
    }

    private void Round(ConcurrencyLimiter limiter, Func<int, TimeSpan> latency, bool full = true, int hits = Hits)
    {
        var inFlight = limiter.Limit;
        var sent = _time.GetTimestamp();
        for (var i = 0; i < inFlight; i++)
        {
            Assert.That(limiter.WaitAsync(CancellationToken.None).IsCompletedSuccessfully, Is.True, "a slot within the limit");
        }

        var answerTime = latency(inFlight);
        _time.Advance(answerTime);
        for (var i = 0; i < inFlight; i++)
        {
            limiter.Answered(sent, answerTime, hits, full);
            limiter.Release();
        }
    }
}
