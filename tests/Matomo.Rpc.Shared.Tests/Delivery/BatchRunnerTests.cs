using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests.Delivery;

/// <summary>One batch run to its end on a fake clock: back-off between attempts, the deadline, and what is freed after.</summary>
[TestFixture]
public class BatchRunnerTests : SenderPartsFixture
{
    [SetUp]
    public void SetUp() => Arrange();

    private static SendResult Transient => new(SendStatus.Transient, Reason: "no connection");

    /// <summary>A batch taken as the sender takes it: a request slot, then the source's next batch.</summary>
    private async Task<Batch> TakeAsync(int hits)
    {
        Parts.Enqueue(hits, visitors: true);
        await Parts.Delivery.Limiter.WaitAsync(CancellationToken.None).WaitAsync(SenderParts.Timeout);
        return Parts.Source.Take(CancellationToken.None) ?? throw new InvalidOperationException("no batch");
    }

    /// <summary>Waits in real time (the fake clock stands still) until the run is parked on its back-off timer.</summary>
    private async Task ParkedAsync()
    {
        var watch = Stopwatch.StartNew();
        while (Parts.Clock.Armed == 0)
        {
            Assert.That(watch.Elapsed, Is.LessThan(SenderParts.Timeout), "the run never parked on a timer");
            await Task.Delay(1);
        }
    }

    /// <summary>Hits counted dropped per reason by this test's harness (its own meters).</summary>
    private MeterListener ListenToDrops(ConcurrentDictionary<string, long> dropped)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == Parts.Harness.Meters && instrument.Name == "matomo.rpc.hits.dropped")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "reason")
                {
                    dropped.AddOrUpdate((string)tag.Value!, value, (_, old) => old + value);
                }
            }
        });
        listener.Start();
        return listener;
    }

    [Test]
    public async Task RunAsync_TransientFailureThenAnswer_BacksOffOnTheClockThenSendsTheSameHits()
    {
        Parts.Writer.Answer = (index, hits) => index == 0 ? Transient : SendResult.Ok(hits.Count);
        var batch = await TakeAsync(3);

        var run = Parts.Runner.RunAsync(batch, holdsSlot: true, CancellationToken.None);
        await ParkedAsync();
        var callsWhileParked = Parts.Writer.Calls.Count;
        Parts.Harness.Time.Advance(TimeSpan.FromSeconds(4));
        await run.WaitAsync(SenderParts.Timeout);

        var calls = Parts.Writer.Calls;
        Assert.That(callsWhileParked, Is.EqualTo(1));
        Assert.That(calls, Has.Count.EqualTo(2));
        Assert.That(calls[1].Actions, Is.EqualTo(calls[0].Actions));
        Assert.That(calls[1].At - calls[0].At, Is.InRange(TimeSpan.FromSeconds(0.8), TimeSpan.FromSeconds(4)), "the back-off is on the clock");
        Assert.That((Parts.Stats.Sent, Parts.Stats.Retried, Parts.Stats.Dropped), Is.EqualTo((3L, 1L, 0L)));
        Assert.That(Parts.Delivery.Limiter.InFlight, Is.Zero, "the slot is released");
        Assert.That(Parts.Logger.EventNames, Does.Contain("SendRetrying"));
    }

    [Test]
    public async Task RunAsync_DeadlinePassesDuringTheBackOff_GivesTheHitsUpAsShutdownDropsAndCountsThem()
    {
        var dropped = new ConcurrentDictionary<string, long>();
        using var listener = ListenToDrops(dropped);
        Parts.Writer.Answer = (_, _) => Transient;
        var batch = await TakeAsync(3);
        using var abort = new CancellationTokenSource();

        var run = Parts.Runner.RunAsync(batch, holdsSlot: true, abort.Token);
        await ParkedAsync();
        await abort.CancelAsync();
        await run.WaitAsync(SenderParts.Timeout);

        Assert.That(Parts.Runner.Abandoned, Is.EqualTo(3));
        Assert.That((Parts.Stats.Sent, Parts.Stats.Dropped), Is.EqualTo((0L, 3L)));
        Assert.That(dropped, Is.EquivalentTo(new Dictionary<string, long> { [DropReasons.Shutdown] = 3 }), "no request was in flight");
        Assert.That(Parts.Queue.Count, Is.Zero, "dropped hits free their places");
        Assert.That(Parts.Delivery.Limiter.InFlight, Is.Zero);
    }

    [Test]
    public async Task RunAsync_DeadlinePassesWhileARequestIsInFlight_CountsItsHitsAsShutdownUnanswered()
    {
        // Matomo may have stored a request it had not answered by the deadline: its hits are dropped apart from the
        // others, so that more rows in Matomo than hits sent can be told from a counting error.
        var dropped = new ConcurrentDictionary<string, long>();
        using var listener = ListenToDrops(dropped);
        Parts.Writer.Manual = true;
        var batch = await TakeAsync(3);
        using var abort = new CancellationTokenSource();

        var run = Parts.Runner.RunAsync(batch, holdsSlot: true, abort.Token);
        await Parts.Writer.NextAsync();
        await abort.CancelAsync();
        await run.WaitAsync(SenderParts.Timeout);

        Assert.That(Parts.Runner.Abandoned, Is.EqualTo(3));
        Assert.That((Parts.Stats.Sent, Parts.Stats.Dropped), Is.EqualTo((0L, 3L)));
        Assert.That(dropped, Is.EquivalentTo(new Dictionary<string, long> { [DropReasons.ShutdownUnanswered] = 3 }));
        Assert.That(Parts.Queue.Count, Is.Zero, "dropped hits free their places");
    }

    [Test]
    public async Task RunAsync_Done_FreesTheBatchsLanesAndWakesTheSender()
    {
        Parts.Writer.Manual = true;
        Parts.Enqueue(5);
        var batch = Parts.Source.Take(CancellationToken.None)!;
        Parts.Harness.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.That(Parts.Source.Take(CancellationToken.None), Is.Null, "the visitor's later hits wait for its batch");
        var wait = Parts.Source.WaitAsync(CancellationToken.None);

        var run = Parts.Runner.RunAsync(batch, holdsSlot: false, CancellationToken.None);
        (await Parts.Writer.NextAsync()).Result.SetResult(SendResult.Ok(3));
        await run.WaitAsync(SenderParts.Timeout);
        await wait.WaitAsync(SenderParts.Timeout);
        Parts.Source.Take(CancellationToken.None);
        Parts.Harness.Time.Advance(TimeSpan.FromSeconds(1));
        using var next = Parts.Source.Take(CancellationToken.None);

        Assert.That(next?.Size, Is.EqualTo(2));
    }
}
