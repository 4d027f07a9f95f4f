using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests;

[TestFixture]
public class SenderSignalTests
{
    [Test]
    public void WaitAsync_WritesBeforeTheMark_StillWaiting()
    {
        var signal = new SenderSignal();

        var wait = signal.WaitAsync(3);
        signal.OnWritten(1);
        signal.OnWritten(2);

        Assert.That(wait.IsCompleted, Is.False);
    }

    [Test]
    public void WaitAsync_TheWriteAtTheMark_CompletesOnce()
    {
        var signal = new SenderSignal();

        var wait = signal.WaitAsync(3);
        signal.OnWritten(1);
        signal.OnWritten(2);
        signal.OnWritten(3);
        signal.OnWritten(4);
        signal.Wake();

        Assert.That(wait.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public void OnWritten_WritesOutOfOrderPastTheMark_Completes()
    {
        var signal = new SenderSignal();

        // Producers accept in one order and finish writing in another: a later position may report first.
        var wait = signal.WaitAsync(3);
        signal.OnWritten(4);

        Assert.That(wait.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public void Wake_NotArmed_TheNextWaitStillWaits()
    {
        var signal = new SenderSignal();
        signal.Wake();
        signal.OnWritten(1);

        var wait = signal.WaitAsync(2);

        Assert.That(wait.IsCompleted, Is.False);
        signal.Wake();
        Assert.That(wait.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public void OnWritten_PastAMarkAlreadyWoken_LeavesTheNextWaitArmed()
    {
        var signal = new SenderSignal();
        _ = signal.WaitAsync(2);
        signal.Wake();
        signal.OnWritten(2);
        signal.OnWritten(3);

        var wait = signal.WaitAsync(10);
        signal.OnWritten(4);

        Assert.That(wait.IsCompleted, Is.False, "a write past the old mark does not end the new wait");
        signal.OnWritten(10);
        Assert.That(wait.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public void IsDue_AtAndPastTheMark_True()
    {
        var signal = new SenderSignal();

        _ = signal.WaitAsync(5);

        Assert.That(signal.IsDue(4), Is.False);
        Assert.That(signal.IsDue(5), Is.True);
        Assert.That(signal.IsDue(6), Is.True);
    }

    [Test]
    public async Task WaitAsync_WokenFromAnotherThread_ContinuesOffTheWakersThread()
    {
        var signal = new SenderSignal();
        var wait = signal.WaitAsync(1);
        var waker = Task.Run(() => signal.OnWritten(1));

        await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        await waker.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(wait.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public void WaitAsync_ManyWaits_NoAllocation()
    {
        var signal = new SenderSignal();
        var position = 0L;
        Cycle(signal, ref position);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            Cycle(signal, ref position);
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    private static void Cycle(SenderSignal signal, ref long position)
    {
        var wait = signal.WaitAsync(position + 2);
        signal.OnWritten(++position);
        signal.OnWritten(++position);
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
