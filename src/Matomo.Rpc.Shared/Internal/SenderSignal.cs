using System.Threading.Tasks.Sources;

namespace Matomo.Rpc.Internal;

/// <summary>
/// How the sender, filling a batch, waits for the hits it still needs without a wake-up per hit and without an
/// allocation per wait: one reusable awaitable, armed with the position (in the queue's count of hits accepted since
/// start) of the hit that completes what it wants. A producer compares the position its hit was accepted at with that
/// mark (one read, no atomic: the mark is long.MaxValue while nobody waits) and the hit that reaches it wakes the sender;
/// so do the flush timer, the queue's completion and the stop deadline. A wake may come early (from a timer armed for an
/// earlier wait): the sender looks at the queue and the clock again and waits again if it must. One waiter at a time
/// (the sender's loop).
/// </summary>
internal sealed class SenderSignal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private long _wakeAt = long.MaxValue;
    private int _armed;

    /// <summary>
    /// Arms the signal: the returned task completes once a hit at <paramref name="wakeAt"/> or later is written
    /// (<see cref="OnWritten"/>), or on a <see cref="Wake"/>. The caller then looks whether that position was already
    /// reached (<see cref="IsDue"/>): arming is a full fence, so a write it does not see sees the mark.
    /// </summary>
    public ValueTask WaitAsync(long wakeAt)
    {
        _core.Reset();
        Volatile.Write(ref _armed, 1);
        Interlocked.Exchange(ref _wakeAt, wakeAt);
        return new ValueTask(this, _core.Version);
    }

    /// <summary>True when a hit at <paramref name="position"/> ends the wait armed now.</summary>
    public bool IsDue(long position) => position >= Volatile.Read(ref _wakeAt);

    /// <summary>
    /// The hit accepted at <paramref name="position"/> (1 for the first) is in the queue: a producer's path, one read
    /// and no atomic unless it is the hit the sender waits for. The producer's accepting the hit was a full fence.
    /// </summary>
    public void OnWritten(long position)
    {
        // The mark may be a stale one for a moment after a wake from elsewhere (a timer): the armed flag keeps those
        // writes to one read more.
        if (position >= Volatile.Read(ref _wakeAt) && Volatile.Read(ref _armed) == 1)
        {
            Wake();
        }
    }

    public void Wake()
    {
        if (Interlocked.Exchange(ref _armed, 0) == 1)
        {
            Volatile.Write(ref _wakeAt, long.MaxValue);
            _core.SetResult(true);
        }
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
