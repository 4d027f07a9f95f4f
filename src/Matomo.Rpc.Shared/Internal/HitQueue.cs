using System.Diagnostics.Metrics;
using System.Threading.Channels;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The bounded queue between calls and the sender. Producers only TryWrite: a full queue drops and counts. The bound,
/// <see cref="MatomoSendingOptions.QueueCapacity"/>, covers every hit held: waiting here and taken by the sender until
/// it is sent, rejected or dropped (<see cref="Release"/>).
/// </summary>
internal sealed class HitQueue
{
    private readonly Channel<MatomoHit> _channel = Channel.CreateUnbounded<MatomoHit>(new UnboundedChannelOptions
    {
        // Not single-reader: with DropOldest a producer takes the oldest waiting hit out.
        SingleReader = false,
        SingleWriter = false,
        AllowSynchronousContinuations = false,
    });

    private readonly SenderSignal _signal = new();
    private readonly int _capacity;
    private readonly bool _dropOldest;
    private int _held;
    private long _dropsToLog;
    private volatile bool _completed;

    public HitQueue(MatomoOptions options, IMeterFactory meterFactory, TimeProvider time)
    {
        _capacity = options.Sending.QueueCapacity;
        _dropOldest = options.Sending.FullQueuePolicy == MatomoFullQueuePolicy.DropOldest;
        Metrics = new MatomoMetrics(meterFactory, () => Count, time);
    }

    public MatomoMetrics Metrics { get; }

    public ChannelReader<MatomoHit> Reader => _channel.Reader;

    /// <summary>Hits held: waiting plus taken by the sender and not yet sent, rejected or dropped. At most the capacity.</summary>
    public int Count => Math.Max(0, Volatile.Read(ref _held));

    /// <summary>Hits waiting for the sender to take them.</summary>
    public int Waiting => _channel.Reader.Count;

    public bool TryWrite(MatomoHit hit)
    {
        if (_completed)
        {
            OnDropped(DropReasons.Shutdown);
            return false;
        }

        if (Interlocked.Increment(ref _held) > _capacity)
        {
            // Only a hit still waiting can give its place; hits the sender holds are being sent.
            if (!_dropOldest || !_channel.Reader.TryRead(out _))
            {
                Interlocked.Decrement(ref _held);
                OnDropped(DropReasons.QueueFull);
                return false;
            }

            Interlocked.Decrement(ref _held);
            OnDropped(DropReasons.QueueFull);
        }

        if (!_channel.Writer.TryWrite(hit))
        {
            Interlocked.Decrement(ref _held);
            OnDropped(DropReasons.Shutdown);
            return false;
        }

        Metrics.Queued();
        _signal.OnWritten();
        return true;
    }

    /// <summary>Frees the places of hits taken by the sender that are now sent, rejected or dropped.</summary>
    public void Release(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _held, -count);
        }
    }

    /// <summary>Takes places back for hits released early that are handed back (the spool could not take them).</summary>
    public void Hold(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _held, count);
        }
    }

    /// <summary>Takes every hit still waiting out of the queue and counts it as dropped for <paramref name="reason"/>.</summary>
    public int DropWaiting(string reason)
    {
        var count = 0;
        while (_channel.Reader.TryRead(out _))
        {
            count++;
        }

        Metrics.Dropped(count, reason);
        Release(count);
        return count;
    }

    public void Complete()
    {
        _completed = true;
        _channel.Writer.TryComplete();
        _signal.Wake();
    }

    /// <summary>
    /// Waits until <paramref name="hits"/> more hits were written, the queue is completed, or <see cref="WakeSender"/>;
    /// without an allocation. For the sender's loop only (one wait at a time); it may return early.
    /// </summary>
    public ValueTask WaitForHitsAsync(int hits)
    {
        var wait = _signal.WaitAsync(hits);
        if (_completed)
        {
            _signal.Wake();
        }
        else
        {
            // Hits written before the wait was armed count too: without this, a wait for 3 with 2 already waiting
            // would need 3 more, and the batch would leave only at the flush interval.
            _signal.Consume(_channel.Reader.Count);
        }

        return wait;
    }

    /// <summary>Waits only for <see cref="WakeSender"/> (a batch done, a timer, the deadline), not for hits; no allocation.</summary>
    public ValueTask WaitForWakeAsync() => _signal.WaitAsync(int.MaxValue);

    /// <summary>Ends the sender's <see cref="WaitForHitsAsync"/> now (its flush timer, the stop deadline).</summary>
    public void WakeSender() => _signal.Wake();

    /// <summary>Drops since the last call: the sender logs them as periodic counts, never per hit.</summary>
    public long TakeDropsToLog() => Interlocked.Exchange(ref _dropsToLog, 0);

    private void OnDropped(string reason)
    {
        Metrics.Dropped(1, reason);
        Interlocked.Increment(ref _dropsToLog);
    }
}
