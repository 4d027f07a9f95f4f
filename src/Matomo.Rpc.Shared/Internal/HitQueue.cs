using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The bounded queue between calls and the sender. Producers only <see cref="TryWrite"/>: a full queue drops and counts.
/// The bound, <see cref="MatomoSendingOptions.QueueCapacity"/>, covers every hit held: waiting here and taken by the
/// sender until it is sent, rejected or dropped (<see cref="Release"/>).
/// </summary>
/// <remarks>
/// A call's hit costs two atomic operations on memory the two sides share: one compare-and-swap on the count of hits
/// accepted since start, which is at once the bound's check (accepted minus released), the hit's position for the
/// sender's wake-up (<see cref="SenderSignal"/>: no atomic per hit) and the queued and offered totals (no counter of their
/// own); and the <see cref="ConcurrentQueue{T}"/>'s own one. Completion closes the count (a bit in it), so no hit is
/// accepted after it and every accepted hit is in the queue before the queue counts as drained: the drain at stop misses
/// none.
/// </remarks>
internal sealed class HitQueue
{
    private const long Closed = 1L << 62;

    private readonly ConcurrentQueue<MatomoHit> _waiting = new();
    private readonly SenderSignal _signal = new();
    private readonly int _capacity;
    private readonly bool _dropOldest;
    private Positions _positions;
    private long _refused;
    private long _dropsToLog;
    private volatile bool _completed;

    public HitQueue(MatomoOptions options, IMeterFactory meterFactory, TimeProvider time)
    {
        _capacity = options.Sending.QueueCapacity;
        _dropOldest = options.Sending.FullQueuePolicy == MatomoFullQueuePolicy.DropOldest;
        Metrics = new MatomoMetrics(meterFactory, this, time);
    }

    public MatomoMetrics Metrics { get; }

    /// <summary>Hits held: waiting plus taken by the sender and not yet sent, rejected or dropped. At most the capacity.</summary>
    public int Count => (int)Math.Clamp(Accepted - Volatile.Read(ref _positions.Released), 0, int.MaxValue);

    /// <summary>Hits waiting for the sender to take them (a hit being written counts already).</summary>
    public int Waiting => (int)Math.Clamp(Accepted - Volatile.Read(ref _positions.Removed), 0, int.MaxValue);

    /// <summary>Hits the queue accepted since start (calls' hits: the crash hits made from them are not in it).</summary>
    public long Accepted => Volatile.Read(ref _positions.Accepted) & ~Closed;

    /// <summary>Hits the queue refused since start (full, or completed): dropped at once and counted so.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Completed (<see cref="Complete"/>): every hit written from now on is refused.</summary>
    public bool IsCompleted => _completed;

    /// <summary>Completed, and every hit it accepted was taken out: nothing more will come.</summary>
    public bool IsDrained => _completed && Volatile.Read(ref _positions.Removed) >= Accepted;

    public bool TryWrite(MatomoHit hit)
    {
        long position;
        while (true)
        {
            var accepted = Volatile.Read(ref _positions.Accepted);
            if ((accepted & Closed) != 0)
            {
                Refuse(DropReasons.Shutdown);
                return false;
            }

            if (accepted - Volatile.Read(ref _positions.Released) >= _capacity)
            {
                // Only a hit still waiting can give its place; hits the sender holds are being sent.
                if (!_dropOldest || !TryRemove(out _))
                {
                    Refuse(DropReasons.QueueFull);
                    return false;
                }

                Interlocked.Increment(ref _positions.Released);
                OnDropped(1, DropReasons.QueueFull);
                continue;
            }

            if (Interlocked.CompareExchange(ref _positions.Accepted, accepted + 1, accepted) == accepted)
            {
                position = accepted + 1;
                break;
            }
        }

        _waiting.Enqueue(hit);
        Metrics.QueuedByCall();
        _signal.OnWritten(position);
        return true;
    }

    /// <summary>Takes the oldest waiting hit out (the sender, the spill thread, tests), or false when none waits.</summary>
    public bool TryRead([MaybeNullWhen(false)] out MatomoHit hit) => TryRemove(out hit);

    /// <summary>Frees the places of hits taken by the sender that are now sent, rejected or dropped.</summary>
    public void Release(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _positions.Released, count);
        }
    }

    /// <summary>Takes places back for hits released early that are handed back (the spool could not take them).</summary>
    public void Hold(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _positions.Released, -count);
        }
    }

    /// <summary>
    /// Takes every hit still waiting out of the queue and counts it as dropped for <paramref name="reason"/>. Once the
    /// queue is completed, also every hit accepted and still being written (it waits for those few writes).
    /// </summary>
    public int DropWaiting(string reason)
    {
        var count = 0;
        var spin = new SpinWait();
        while (true)
        {
            while (TryRemove(out _))
            {
                count++;
            }

            if (!_completed || IsDrained)
            {
                break;
            }

            // A producer accepted a hit before the completion and has yet to put it in: a matter of instructions.
            spin.SpinOnce();
        }

        OnDropped(count, reason);
        Release(count);
        return count;
    }

    public void Complete()
    {
        // Closed first: whoever sees the queue completed sees the accepted count final.
        Interlocked.Or(ref _positions.Accepted, Closed);
        _completed = true;
        _signal.Wake();
    }

    /// <summary>
    /// Waits until <paramref name="hits"/> hits wait in the queue, the queue is completed, or <see cref="WakeSender"/>;
    /// without an allocation. For the sender's loop only (one wait at a time); it may return early.
    /// </summary>
    public ValueTask WaitForHitsAsync(int hits)
    {
        // Hits written before the wait was armed count too: without this, a wait for 3 with 2 already waiting would need
        // 3 more, and the batch would leave only at the flush interval.
        var wait = _signal.WaitAsync(Volatile.Read(ref _positions.Removed) + Math.Max(1, hits));
        if (_completed || _signal.IsDue(Accepted))
        {
            _signal.Wake();
        }

        return wait;
    }

    /// <summary>Waits only for <see cref="WakeSender"/> (a batch done, a timer, the deadline), not for hits; no allocation.</summary>
    public ValueTask WaitForWakeAsync() => _signal.WaitAsync(long.MaxValue);

    /// <summary>Ends the sender's <see cref="WaitForHitsAsync"/> now (its flush timer, the stop deadline).</summary>
    public void WakeSender() => _signal.Wake();

    /// <summary>Drops since the last call: the sender logs them as periodic counts, never per hit.</summary>
    public long TakeDropsToLog() => Interlocked.Exchange(ref _dropsToLog, 0);

    private bool TryRemove([MaybeNullWhen(false)] out MatomoHit hit)
    {
        if (!_waiting.TryDequeue(out hit))
        {
            return false;
        }

        // Written by whoever takes a hit out (mostly the sender's loop), never by a call's hit: off the producers' line.
        Interlocked.Increment(ref _positions.Removed);
        return true;
    }

    private void Refuse(string reason)
    {
        Interlocked.Increment(ref _refused);
        OnDropped(1, reason);
    }

    private void OnDropped(int count, string reason)
    {
        if (count > 0)
        {
            Metrics.Dropped(count, reason);
            Interlocked.Add(ref _dropsToLog, count);
        }
    }

    /// <summary>
    /// The counts the two sides share, each on a cache line (pair) of its own: what every call writes (accepted), what
    /// every call reads and the sender writes once a batch (released), and what the sender writes per hit (removed).
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 4 * LineSize)]
    private struct Positions
    {
        [FieldOffset(LineSize)]
        public long Accepted;

        [FieldOffset(2 * LineSize)]
        public long Released;

        [FieldOffset(3 * LineSize)]
        public long Removed;

        // Two lines: the adjacent-line prefetcher pairs them (as .NET's own padded queue heads do).
        private const int LineSize = 128;
    }
}
