using System.Diagnostics;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests.Delivery;

/// <summary>One batch run to its end on a fake clock: back-off between attempts, the deadline, and what is freed after.</summary>
[TestFixture]
public class BatchRunnerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private SenderParts _parts = null!;

    [SetUp]
    public void SetUp() => _parts = new SenderParts(withSpool: false);

    [TearDown]
    public void TearDown() => _parts.Dispose();

    private static SendResult Transient => new(SendStatus.Transient, Reason: "no connection");

    /// <summary>A batch taken as the sender takes it: a request slot, then the source's next batch.</summary>
    private async Task<Batch> TakeAsync(int hits)
    {
        _parts.Enqueue(hits, visitors: true);
        await _parts.Delivery.Limiter.WaitAsync(CancellationToken.None).WaitAsync(Timeout);
        return _parts.Source.Take(CancellationToken.None) ?? throw new InvalidOperationException("no batch");
    }

    /// <summary>Waits in real time (the fake clock stands still) until the run is parked on its back-off timer.</summary>
    private async Task ParkedAsync()
    {
        var watch = Stopwatch.StartNew();
        while (_parts.Clock.Armed == 0)
        {
            Assert.That(watch.Elapsed, Is.LessThan(Timeout), "the run never parked on a timer");
            await Task.Delay(1);
        }
    }

    [Test]
    public async Task RunAsync_TransientFailureThenAnswer_BacksOffOnTheClockThenSendsTheSameHits()
    {
        _parts.Writer.Answer = (index, hits) => index == 0 ? Transient : SendResult.Ok(hits.Count);
        var batch = await TakeAsync(3);

        var run = _parts.Runner.RunAsync(batch, holdsSlot: true, CancellationToken.None);
        await ParkedAsync();
        var callsWhileParked = _parts.Writer.Calls.Count;
        _parts.Harness.Time.Advance(TimeSpan.FromSeconds(4));
        await run.WaitAsync(Timeout);

        var calls = _parts.Writer.Calls;
        Assert.That(callsWhileParked, Is.EqualTo(1));
        Assert.That(calls, Has.Count.EqualTo(2));
        Assert.That(calls[1].Actions, Is.EqualTo(calls[0].Actions));
        Assert.That(calls[1].At - calls[0].At, Is.InRange(TimeSpan.FromSeconds(0.8), TimeSpan.FromSeconds(4)), "the back-off is on the clock");
        Assert.That((_parts.Stats.Sent, _parts.Stats.Retried, _parts.Stats.Dropped), Is.EqualTo((3L, 1L, 0L)));
        Assert.That(_parts.Delivery.Limiter.InFlight, Is.Zero, "the slot is released");
        Assert.That(_parts.Logger.EventNames, Does.Contain("SendRetrying"));
    }

    [Test]
    public async Task RunAsync_DeadlinePassesDuringTheBackOff_GivesTheHitsUpAsShutdownDropsAndCountsThem()
    {
        _parts.Writer.Answer = (_, _) => Transient;
        var batch = await TakeAsync(3);
        using var abort = new CancellationTokenSource();

        var run = _parts.Runner.RunAsync(batch, holdsSlot: true, abort.Token);
        await ParkedAsync();
        await abort.CancelAsync();
        await run.WaitAsync(Timeout);

        Assert.That(_parts.Runner.Abandoned, Is.EqualTo(3));
        Assert.That((_parts.Stats.Sent, _parts.Stats.Dropped), Is.EqualTo((0L, 3L)));
        Assert.That(_parts.Queue.Count, Is.Zero, "dropped hits free their places");
        Assert.That(_parts.Delivery.Limiter.InFlight, Is.Zero);
    }

    [Test]
    public async Task RunAsync_Done_FreesTheBatchsLanesAndWakesTheSender()
    {
        _parts.Writer.Manual = true;
        _parts.Enqueue(5);
        var batch = _parts.Source.Take(CancellationToken.None)!;
        _parts.Harness.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.That(_parts.Source.Take(CancellationToken.None), Is.Null, "the visitor's later hits wait for its batch");
        var wait = _parts.Source.WaitAsync(CancellationToken.None);

        var run = _parts.Runner.RunAsync(batch, holdsSlot: false, CancellationToken.None);
        (await _parts.Writer.NextAsync()).Result.SetResult(SendResult.Ok(3));
        await run.WaitAsync(Timeout);
        await wait.WaitAsync(Timeout);
        _parts.Source.Take(CancellationToken.None);
        _parts.Harness.Time.Advance(TimeSpan.FromSeconds(1));
        using var next = _parts.Source.Take(CancellationToken.None);

        Assert.That(next?.Size, Is.EqualTo(2));
    }
}
