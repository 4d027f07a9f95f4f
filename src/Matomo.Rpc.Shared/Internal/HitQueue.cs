using System.Diagnostics.Metrics;
using System.Threading.Channels;

namespace Matomo.Rpc.Internal;

/// <summary>The bounded queue between calls and the sender. Producers only TryWrite: a full queue drops and counts.</summary>
internal sealed class HitQueue
{
    private readonly Channel<MatomoHit> _channel;
    private long _dropsToLog;
    private volatile bool _completed;

    public HitQueue(MatomoOptions options, IMeterFactory meterFactory)
    {
        var sending = options.Sending;
        var channelOptions = new BoundedChannelOptions(sending.QueueCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
            FullMode = sending.FullQueuePolicy == MatomoFullQueuePolicy.DropOldest ? BoundedChannelFullMode.DropOldest : BoundedChannelFullMode.Wait,
        };
        _channel = sending.FullQueuePolicy == MatomoFullQueuePolicy.DropOldest
            ? Channel.CreateBounded<MatomoHit>(channelOptions, _ => OnDropped(DropReasons.QueueFull))
            : Channel.CreateBounded<MatomoHit>(channelOptions);
        Metrics = new MatomoMetrics(meterFactory, () => Count);
    }

    public MatomoMetrics Metrics { get; }

    public ChannelReader<MatomoHit> Reader => _channel.Reader;

    public int Count => _channel.Reader.Count;

    public bool TryWrite(MatomoHit hit)
    {
        if (_channel.Writer.TryWrite(hit))
        {
            Metrics.Queued();
            return true;
        }

        // Wait mode + TryWrite fails only when full; a completed writer (shutdown) also lands here.
        OnDropped(_completed ? DropReasons.Shutdown : DropReasons.QueueFull);
        return false;
    }

    public void Complete()
    {
        _completed = true;
        _channel.Writer.TryComplete();
    }

    /// <summary>Drops since the last call: the sender logs them as periodic counts, never per hit.</summary>
    public long TakeDropsToLog() => Interlocked.Exchange(ref _dropsToLog, 0);

    private void OnDropped(string reason)
    {
        Metrics.Dropped(1, reason);
        Interlocked.Increment(ref _dropsToLog);
    }
}
