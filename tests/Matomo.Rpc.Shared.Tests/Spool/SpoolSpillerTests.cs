using System.Diagnostics;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>
/// The spill thread's decisions, one look at a time (queue of 100, batches of 3: while Matomo fails, hits go to disk from
/// 10 waiting; while it answers, from 97 held, down to 50), and the thread itself.
/// </summary>
[TestFixture]
public class SpoolSpillerTests
{
    private SenderParts _parts = null!;

    [SetUp]
    public void SetUp() => _parts = new SenderParts(withSpool: true);

    [TearDown]
    public void TearDown() => _parts.Dispose();

    private HitQueue Queue => _parts.Queue;

    [Test]
    public void FailingHighWater_QueueOf100BatchOf3_IsATenthOfTheQueue()
    {
        Assert.That(_parts.Spiller!.FailingHighWater, Is.EqualTo(10));
    }

    [Test]
    public void Poll_MatomoFailingAndATenthOfTheQueueWaiting_MovesEveryWaitingHitToTheSpoolAndLogsOnce()
    {
        _parts.Health.Failed("down");
        _parts.Enqueue(10);

        var first = _parts.Spiller!.Poll();
        _parts.Enqueue(12, "b/");
        var second = _parts.Spiller.Poll();

        Assert.That((first, second), Is.EqualTo((true, true)));
        Assert.That(Queue.Waiting, Is.Zero);
        Assert.That(Queue.Count, Is.Zero, "a spooled hit frees its place in the queue");
        Assert.That(_parts.Spool!.Waiting, Is.EqualTo(22));
        Assert.That(_parts.EventCount("SpoolingWhileFailing"), Is.EqualTo(1));
    }

    [Test]
    public void Poll_MatomoFailingBelowTheHighWater_LeavesTheHitsInTheQueue()
    {
        _parts.Health.Failed("down");
        _parts.Enqueue(9);

        var spilled = _parts.Spiller!.Poll();

        Assert.That(spilled, Is.False);
        Assert.That(Queue.Waiting, Is.EqualTo(9));
        Assert.That(_parts.Spool!.Waiting, Is.Zero);
    }

    [Test]
    public void Poll_StoppingWhileMatomoFails_MovesEvenAFewWaitingHits()
    {
        _parts.Health.Failed("down");
        _parts.Enqueue(2);
        _parts.Stopping = true;

        var spilled = _parts.Spiller!.Poll();

        Assert.That(spilled, Is.True);
        Assert.That(Queue.Waiting, Is.Zero);
        Assert.That(_parts.Spool!.Waiting, Is.EqualTo(2));
    }

    [Test]
    public void Poll_StoppingWhileMatomoAnswers_LeavesTheHitsForTheSender()
    {
        _parts.Enqueue(20);
        _parts.Stopping = true;

        var spilled = _parts.Spiller!.Poll();

        Assert.That(spilled, Is.False);
        Assert.That(Queue.Waiting, Is.EqualTo(20));
    }

    [Test]
    public void Poll_QueueNearlyFullWhileMatomoAnswers_MovesTheOldestHitsDownToHalfTheQueue()
    {
        _parts.Enqueue(97);

        var spilled = _parts.Spiller!.Poll();

        Assert.That(spilled, Is.True);
        Assert.That(Queue.Count, Is.EqualTo(50));
        Assert.That(Queue.Reader.TryRead(out var next) ? next.Action : null, Is.EqualTo("a/47"), "the oldest went to disk");
        using var replay = _parts.Spool!.TakeOldest()!;
        Assert.That(SenderParts.Actions(replay), Is.EqualTo(Enumerable.Range(0, 47).Select(i => "a/" + i)));
    }

    [Test]
    public void Poll_QueueBelowNearlyFullWhileMatomoAnswers_MovesNothing()
    {
        _parts.Enqueue(96);

        var spilled = _parts.Spiller!.Poll();

        Assert.That(spilled, Is.False);
        Assert.That(Queue.Waiting, Is.EqualTo(96));
    }

    [Test]
    public void Poll_MatomoRecoveredThenFailingAgain_LogsTheSpillingAgain()
    {
        _parts.Health.Failed("down");
        _parts.Enqueue(10);
        _parts.Spiller!.Poll();

        _parts.Health.Succeeded();
        _parts.Spiller.Poll();
        _parts.Health.Failed("down again");
        _parts.Enqueue(10, "b/");
        _parts.Spiller.Poll();

        Assert.That(_parts.EventCount("SpoolingWhileFailing"), Is.EqualTo(2));
    }

    [Test]
    public void Spill_SpoolClosed_TakesNothing()
    {
        _parts.Enqueue(5);
        _parts.Spool!.Dispose();

        var spilled = _parts.Spiller!.Spill(5);

        Assert.That(spilled, Is.Zero);
        Assert.That(Queue.Waiting, Is.EqualTo(5));
    }

    [Test]
    public async Task Start_MatomoFailing_MovesTheHitsOnItsOwnThreadUntilEnded()
    {
        _parts.Health.Failed("down");
        using var end = new CancellationTokenSource();
        var running = _parts.Spiller!.Start(end.Token);

        _parts.Enqueue(10);
        var watch = Stopwatch.StartNew();
        while (_parts.Spool!.Waiting < 10)
        {
            Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), "the spill thread never moved the hits");
            await Task.Delay(5);
        }

        await end.CancelAsync();

        Assert.That(running.Wait(TimeSpan.FromSeconds(20)), Is.True, "the spill thread did not end");
        Assert.That(Queue.Waiting, Is.Zero);
    }
}
