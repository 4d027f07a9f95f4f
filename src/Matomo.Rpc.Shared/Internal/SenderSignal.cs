using System.Threading.Tasks.Sources;

namespace Matomo.Rpc.Internal;

/// <summary>
/// How the sender, filling a batch, waits for the hits it still needs without a wake-up per hit and without an
/// allocation per wait: one reusable awaitable, armed with the number of hits wanted. Producers count down while it is
/// armed (one volatile read when it is not) and the write that reaches zero wakes the sender; so do the flush timer,
/// the queue's completion and the stop deadline. A wake may come early (from a timer armed for an earlier wait): the
/// sender looks at the queue and the clock again and waits again if it must. One waiter at a time (the sender's loop).
/// </summary>
internal sealed class SenderSignal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _countdown;
    private int _armed;

    /// <summary>Arms the signal: the returned task completes after <paramref name="hits"/> more writes, or a <see cref="Wake"/>.</summary>
    public ValueTask WaitAsync(int hits)
    {
        _core.Reset();
        Volatile.Write(ref _armed, 1);
        Volatile.Write(ref _countdown, Math.Max(1, hits));
        return new ValueTask(this, _core.Version);
    }

    /// <summary>A hit was written (a producer's path: no lock, no allocation).</summary>
    public void OnWritten()
    {
        if (Volatile.Read(ref _countdown) > 0 && Interlocked.Decrement(ref _countdown) == 0)
        {
            Wake();
        }
    }

    /// <summary>
    /// Counts hits that were already written when the wait was armed (they never call <see cref="OnWritten"/> for it).
    /// A hit written just after arming may be counted twice: the wait then ends early, which the sender allows.
    /// </summary>
    public void Consume(int hits)
    {
        if (hits > 0 && Volatile.Read(ref _armed) == 1 && Interlocked.Add(ref _countdown, -hits) <= 0)
        {
            Wake();
        }
    }

    public void Wake()
    {
        if (Interlocked.Exchange(ref _armed, 0) == 1)
        {
            Volatile.Write(ref _countdown, 0);
            _core.SetResult(true);
        }
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
