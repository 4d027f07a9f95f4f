using System.Diagnostics.Metrics;

namespace Matomo.Rpc.Internal;

/// <summary>The <c>Matomo.Rpc</c> meter and the totals behind <see cref="MatomoStatistics"/>.</summary>
internal sealed class MatomoMetrics
{
    private readonly Counter<long> _queued;
    private readonly Counter<long> _sent;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _retried;
    private readonly Counter<long> _acceptedWithoutCount;
    private readonly Counter<long> _sampledOut;
    private readonly Counter<long> _optedOut;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _sendDuration;
    private readonly TimeProvider _time;
    private readonly Meter _meter;
    private readonly HitQueue _queue;
    private long _queuedTotal;
    private long _sentTotal;
    private long _rejectedTotal;
    private long _droppedTotal;
    private long _retriedTotal;
    private long _acceptedWithoutCountTotal;
    private long _sampledOutTotal;
    private long _optedOutTotal;
    private long _lastDropTicks = long.MinValue;

    /// <param name="meterFactory">Where the meter comes from.</param>
    /// <param name="queue">The queue, whose own counts are the calls' queued and offered hits (no counter per hit here).</param>
    /// <param name="time">The clock of the last drop.</param>
    public MatomoMetrics(IMeterFactory meterFactory, HitQueue queue, TimeProvider time)
    {
        _time = time;
        _queue = queue;
        var meter = _meter = meterFactory.Create(MatomoTracker.MeterName);
        _queued = meter.CreateCounter<long>("matomo.rpc.hits.queued", "{hit}", "Hits put in the send queue.");
        _sent = meter.CreateCounter<long>("matomo.rpc.hits.sent", "{hit}", "Hits Matomo counted as tracked.");
        _rejected = meter.CreateCounter<long>("matomo.rpc.hits.rejected", "{hit}", "Hits Matomo answered as invalid or refused.");
        _dropped = meter.CreateCounter<long>("matomo.rpc.hits.dropped", "{hit}", "Hits given up before Matomo took them, by reason.");
        _acceptedWithoutCount = meter.CreateCounter<long>("matomo.rpc.hits.accepted_without_count", "{hit}", "Hits counted as sent that Matomo queued without counting them (QueuedTracking): stored once its queue is processed.");
        _retried = meter.CreateCounter<long>("matomo.rpc.requests.retried", "{request}", "Requests to Matomo repeated after a transient failure.");
        _sampledOut = meter.CreateCounter<long>("matomo.rpc.hits.sampled_out", "{call}", "Calls left out by sampling (Matomo:Sampling): no hit.");
        _optedOut = meter.CreateCounter<long>("matomo.rpc.hits.opted_out", "{call}", "Calls not tracked because the caller opted out (Sec-GPC, DNT, or the app).");
        _batchSize = meter.CreateHistogram<int>("matomo.rpc.batch.size", "{hit}", "Hits per bulk request.");
        _sendDuration = meter.CreateHistogram<double>("matomo.rpc.send.duration", "s", "Duration of one request to Matomo.");
        meter.CreateObservableGauge("matomo.rpc.queue.length", () => queue.Count, "{hit}", "Hits held: waiting to be sent or being sent (at most Matomo:Sending:QueueCapacity).");
    }

    /// <summary>Publishes how many requests the sender may have in flight, and has.</summary>
    public void Observe(ConcurrencyLimiter limiter)
    {
        _meter.CreateObservableGauge("matomo.rpc.requests.limit", () => limiter.Limit, "{request}", "Requests to Matomo the sender may have in flight now (adapted to what Matomo sustains, at most Matomo:Sending:MaxConcurrentRequests).");
        _meter.CreateObservableGauge("matomo.rpc.requests.in_flight", () => limiter.InFlight, "{request}", "Requests to Matomo in flight, being filled, or waiting to be retried now.");
    }

    /// <summary>The spool, when the app has one: its figures go into <see cref="Snapshot"/>.</summary>
    public Spool.HitSpool? Spool { get; set; }

    /// <summary>When a hit was last dropped, or null if none was.</summary>
    public DateTimeOffset? LastDropAt => Interlocked.Read(ref _lastDropTicks) is var ticks && ticks == long.MinValue
        ? null
        : new DateTimeOffset(ticks, TimeSpan.Zero);

    /// <summary>Calls left out by sampling since start.</summary>
    public long SampledOutTotal => Interlocked.Read(ref _sampledOutTotal);

    /// <summary>Hits calls handed to the queue since start, taken or not (the queue may have refused or displaced them).</summary>
    public long OfferedTotal => _queue.Accepted + _queue.Refused;

    /// <summary>Hits Matomo answered for since start: sent or rejected.</summary>
    public long TakenTotal => Interlocked.Read(ref _sentTotal) + Interlocked.Read(ref _rejectedTotal);

    public void SampledOut()
    {
        Interlocked.Increment(ref _sampledOutTotal);
        _sampledOut.Add(1);
    }

    /// <summary>A call's hit went into the queue: counted by the queue itself (<see cref="HitQueue.Accepted"/>); the instrument only.</summary>
    public void QueuedByCall() => _queued.Add(1);

    /// <summary>A hit of the sender's own making (a call's crash hit) is queued too.</summary>
    public void Queued()
    {
        Interlocked.Increment(ref _queuedTotal);
        _queued.Add(1);
    }

    public void Sent(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _sentTotal, count);
            _sent.Add(count);
        }
    }

    /// <summary>Hits Matomo queued (QueuedTracking) without a count of them: counted as sent, and here apart.</summary>
    public void AcceptedWithoutCount(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _acceptedWithoutCountTotal, count);
            _acceptedWithoutCount.Add(count);
        }
    }

    public void Rejected(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _rejectedTotal, count);
            _rejected.Add(count);
        }
    }

    public void Dropped(int count, string reason)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _droppedTotal, count);
            Interlocked.Exchange(ref _lastDropTicks, _time.GetUtcNow().UtcTicks);
            _dropped.Add(count, new KeyValuePair<string, object?>("reason", reason));
        }
    }

    public void Retried()
    {
        Interlocked.Increment(ref _retriedTotal);
        _retried.Add(1);
    }

    public void OptedOut()
    {
        Interlocked.Increment(ref _optedOutTotal);
        _optedOut.Add(1);
    }

    public void Request(int batchSize, TimeSpan duration)
    {
        _batchSize.Record(batchSize);
        _sendDuration.Record(duration.TotalSeconds);
    }

    public MatomoStatistics Snapshot(int queueLength)
    {
        var statistics = new MatomoStatistics(
            Interlocked.Read(ref _queuedTotal) + _queue.Accepted,
            Interlocked.Read(ref _sentTotal),
            Interlocked.Read(ref _rejectedTotal),
            Interlocked.Read(ref _droppedTotal),
            Interlocked.Read(ref _retriedTotal),
            queueLength)
        {
            AcceptedWithoutCount = Interlocked.Read(ref _acceptedWithoutCountTotal),
            OptedOut = Interlocked.Read(ref _optedOutTotal),
            SampledOut = Interlocked.Read(ref _sampledOutTotal),
        };
        if (Spool is not { } spool)
        {
            return statistics;
        }

        var store = spool.Statistics;
        return statistics with
        {
            Spooled = store.HitsSpooled,
            Replayed = store.HitsReplayed,
            SpoolWaiting = spool.Waiting,
            SpoolInherited = spool.Inherited,
        };
    }
}
