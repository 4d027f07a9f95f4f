using System.Diagnostics;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>
/// The spill thread's decisions, one look at a time (queue of 100, batches of 3: while Matomo fails, hits go to disk from
/// 10 waiting; while it answers, from 97 held, down to 50), and the thread itself.
/// </summary>
[TestFixture]
public class SpoolSpillerTests : SenderPartsFixture
{
    [SetUp]
    public void SetUp() => Arrange(withSpool: true);

    private HitQueue Queue => Parts.Queue;

    [Test]
    public void FailingHighWater_QueueOf100BatchOf3_IsATenthOfTheQueue()
    {
        Assert.That(Parts.Spiller!.FailingHighWater, Is.EqualTo(10));
    }

    [Test]
    public void Poll_MatomoFailingAndATenthOfTheQueueWaiting_MovesEveryWaitingHitToTheSpoolAndLogsOnce()
    {
        Parts.Health.Failed("down");
        Parts.Enqueue(10);

        var first = Parts.Spiller!.Poll();
        Parts.Enqueue(12, "b/");
        var second = Parts.Spiller.Poll();

        Assert.That((first, second), Is.EqualTo((true, true)));
        Assert.That(Queue.Waiting, Is.Zero);
        Assert.That(Queue.Count, Is.Zero, "a spooled hit frees its place in the queue");
        Assert.That(Parts.Spool!.Waiting, Is.EqualTo(22));
        Assert.That(Parts.EventCount("SpoolingWhileFailing"), Is.EqualTo(1));
    }

    [Test]
    public void Poll_StoppingWhileMatomoFails_MovesEvenAFewWaitingHits()
    {
        Parts.Health.Failed("down");
        Parts.Enqueue(2);
        Parts.Stopping = true;

        var spilled = Parts.Spiller!.Poll();

        Assert.That(spilled, Is.True);
        Assert.That(Queue.Waiting, Is.Zero);
        Assert.That(Parts.Spool!.Waiting, Is.EqualTo(2));
    }

    [Test]
    public void Poll_QueueNearlyFullWhileMatomoAnswers_MovesTheOldestHitsDownToHalfTheQueue()
    {
        Parts.Enqueue(97);

        var spilled = Parts.Spiller!.Poll();

        Assert.That(spilled, Is.True);
        Assert.That(Queue.Count, Is.EqualTo(50));
        Assert.That(Queue.TryRead(out var next) ? next.Action : null, Is.EqualTo("a/47"), "the oldest went to disk");
        using var replay = Parts.Spool!.TakeOldest()!;
        Assert.That(SenderParts.Actions(replay), Is.EqualTo(Enumerable.Range(0, 47).Select(i => "a/" + i)));
    }

    [TestCase(true, false, 9, TestName = "Poll_MatomoFailingBelowTheHighWater_LeavesTheHitsInTheQueue")]
    [TestCase(false, true, 20, TestName = "Poll_StoppingWhileMatomoAnswers_LeavesTheHitsForTheSender")]
    [TestCase(false, false, 96, TestName = "Poll_QueueBelowNearlyFullWhileMatomoAnswers_LeavesTheHitsInTheQueue")]
    public void Poll_BelowTheThresholds_LeavesTheHitsInTheQueue(bool failing, bool stopping, int hits)
    {
        if (failing)
        {
            Parts.Health.Failed("down");
        }

        Parts.Enqueue(hits);
        Parts.Stopping = stopping;

        var spilled = Parts.Spiller!.Poll();

        Assert.That(spilled, Is.False);
        Assert.That(Queue.Waiting, Is.EqualTo(hits));
        Assert.That(Parts.Spool!.Waiting, Is.Zero);
    }

    [Test]
    public void Poll_MatomoRecoveredThenFailingAgain_LogsTheSpillingAgain()
    {
        Parts.Health.Failed("down");
        Parts.Enqueue(10);
        Parts.Spiller!.Poll();

        Parts.Health.Succeeded();
        Parts.Spiller.Poll();
        Parts.Health.Failed("down again");
        Parts.Enqueue(10, "b/");
        Parts.Spiller.Poll();

        Assert.That(Parts.EventCount("SpoolingWhileFailing"), Is.EqualTo(2));
    }

    [Test]
    public void Spill_SpoolClosed_TakesNothing()
    {
        Parts.Enqueue(5);
        Parts.Spool!.Dispose();

        var spilled = Parts.Spiller!.Spill(5);

        Assert.That(spilled, Is.Zero);
        Assert.That(Queue.Waiting, Is.EqualTo(5));
    }

    [Test]
    public async Task Start_MatomoFailing_MovesTheHitsOnItsOwnThreadUntilEnded()
    {
        Parts.Health.Failed("down");
        using var end = new CancellationTokenSource();
        var running = Parts.Spiller!.Start(end.Token);

        Parts.Enqueue(10);
        var watch = Stopwatch.StartNew();
        while (Parts.Spool!.Waiting < 10)
        {
            Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), "the spill thread never moved the hits");
            await Task.Delay(5);
        }

        await end.CancelAsync();

        Assert.That(running.Wait(TimeSpan.FromSeconds(20)), Is.True, "the spill thread did not end");
        Assert.That(Queue.Waiting, Is.Zero);
    }

    [Test]
    public async Task Start_OnLinux_RunsTheSpillThreadAtALowerCpuPriorityThanTheCalls()
    {
        Assume.That(OperatingSystem.IsLinux(), "the nice value is read from /proc (Linux)");
        using var end = new CancellationTokenSource();
        var running = Parts.Spiller!.Start(end.Token);

        // The thread names itself "Matomo.Rpc spool" (Linux keeps the first 15 characters) and lowers its priority
        // before its first poll; until then it is at the process's nice value.
        var watch = Stopwatch.StartNew();
        int? nice = null;
        while (nice is not BackgroundPriority.LinuxNice && watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            nice = SpillThreadNice();
            await Task.Delay(5);
        }

        await end.CancelAsync();
        Assert.That(running.Wait(TimeSpan.FromSeconds(20)), Is.True, "the spill thread did not end");
        Assert.That(nice, Is.EqualTo(BackgroundPriority.LinuxNice), "nice value of the spill thread");
        Assert.That(ThreadNice("self"), Is.EqualTo(0), "the test's own thread keeps the default priority");
    }

    private static int? SpillThreadNice()
    {
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            string comm;
            try
            {
                comm = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
            }
            catch (IOException)
            {
                continue; // the thread ended meanwhile
            }

            if (comm == "Matomo.Rpc spoo")
            {
                return ThreadNice(Path.GetFileName(task));
            }
        }

        return null;
    }

    // Field 19 of /proc/<pid>/task/<tid>/stat is the nice value; the command name before it is in parentheses.
    private static int? ThreadNice(string task)
    {
        var path = task == "self" ? "/proc/thread-self/stat" : $"/proc/self/task/{task}/stat";
        var stat = File.ReadAllText(path);
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[16], System.Globalization.CultureInfo.InvariantCulture);
    }
}
