using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests;

[TestFixture]
public class SenderSignalTests
{
    [Test]
    public void WaitAsync_FewerWritesThanWanted_StillWaiting()
    {
        var signal = new SenderSignal();

        var wait = signal.WaitAsync(3);
        signal.OnWritten();
        signal.OnWritten();

        Assert.That(wait.IsCompleted, Is.False);
    }

    [Test]
    public void WaitAsync_TheWantedWrite_CompletesOnce()
    {
        var signal = new SenderSignal();

        var wait = signal.WaitAsync(3);
        signal.OnWritten();
        signal.OnWritten();
        signal.OnWritten();
        signal.OnWritten();
        signal.Wake();

        Assert.That(wait.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public void Wake_NotArmed_TheNextWaitStillWaits()
    {
        var signal = new SenderSignal();
        signal.Wake();
        signal.OnWritten();

        var wait = signal.WaitAsync(1);

        Assert.That(wait.IsCompleted, Is.False);
        signal.Wake();
        Assert.That(wait.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public async Task WaitAsync_WokenFromAnotherThread_ContinuesOffTheWakersThread()
    {
        var signal = new SenderSignal();
        var wait = signal.WaitAsync(1);
        var waker = Task.Run(signal.OnWritten);

        await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        await waker.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(wait.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public void WaitAsync_ManyWaits_NoAllocation()
    {
        var signal = new SenderSignal();
        Cycle(signal);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            Cycle(signal);
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    private static void Cycle(SenderSignal signal)
    {
        var wait = signal.WaitAsync(2);
        signal.OnWritten();
        signal.OnWritten();
        wait.GetAwaiter().GetResult();
    }

    [Test]
    public void WaitForHitsAsync_SomeHitsAlreadyWaiting_EndsWhenTheRestArrive()
    {
        using var harness = new TrackerHarness();
        harness.Tracker.StartCall("a/0", MatomoCallKind.Unary)!.Complete();
        harness.Tracker.StartCall("a/1", MatomoCallKind.Unary)!.Complete();

        var wait = harness.Queue.WaitForHitsAsync(3);
        var earlyEnd = wait.IsCompleted;
        harness.Tracker.StartCall("a/2", MatomoCallKind.Unary)!.Complete();

        Assert.That(earlyEnd, Is.False, "two of three hits are not a full batch");
        Assert.That(wait.IsCompletedSuccessfully, Is.True, "the two hits written before the wait count toward it");
    }
}
