using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Where the sender's next batch comes from: a spool file when it is the spool's turn (or no live hit is ready) and
/// Matomo is not failing, else live hits from <see cref="VisitorLanes"/> no batch in flight holds, as soon as a batch is
/// full, else once the flush interval has passed since hits were ready (at once when stopping). Replayed files and live
/// batches take turns so that fresh calls are not starved. A replayed file holds no lane (its visitors' order was given
/// up when it was spooled). Used by the sender's loop only (not thread-safe), except <see cref="Free"/>.
/// </summary>
internal sealed class BatchSource : IDisposable
{
    private readonly HitQueue _queue;
    private readonly HitDelivery _delivery;
    private readonly MatomoSendingOptions _sending;
    private readonly MatomoVisitorIdentity _visitorIdentity;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HitSpool? _spool;
    private readonly SendHealth? _health;
    private readonly SpoolSpiller? _spiller;
    private readonly Lock _encoding;
    private readonly Func<bool> _stopping;
    private readonly VisitorLanes _lanes;
    private readonly int _maxBacklog;
    private readonly System.Collections.Concurrent.ConcurrentQueue<Batch> _freed = new();
    private ITimer? _flushTimer;
    private long? _readySince;
    private bool _noReading;
    private bool _replayTurn = true;
    private bool _replaying;
    private int _abandoned;

    // encoding: held while hits are read from the queue and encoded (shared with the spiller); stopping: the sender stops.
    public BatchSource(HitQueue queue, HitDelivery delivery, MatomoOptions options, TimeProvider time, ILogger logger,
        HitSpool? spool, SendHealth? health, SpoolSpiller? spiller, Lock encoding, Func<bool> stopping)
    {
        (_queue, _delivery, _sending, _visitorIdentity) = (queue, delivery, options.Sending, options.VisitorIdentity);
        (_time, _logger, _spool, _health, _spiller, _encoding, _stopping) = (time, logger, spool, health, spiller, encoding, stopping);
        _lanes = new VisitorLanes(_sending.BatchSize, delivery.Prepare);

        // Enough hits taken ahead that a batch can come from a few busy visitors' lanes rather than a little from every
        // lane (which would hold every lane, and leave the next batch nothing to take). They stay counted in the queue.
        _maxBacklog = 4 * _sending.BatchSize * (_sending.MaxConcurrentRequests + 1);
    }

    /// <summary>Stopping, every hit taken and no batch in flight: the loop ends.</summary>
    public bool Drained { get; private set; }

    private bool Spooling => _spool is { Active: true };

    private bool Failing => _health?.Failure is not null;

    /// <summary>Hits taken ahead into the lanes; with a spool, no more than would be spilled while Matomo fails.</summary>
    /// <remarks>
    /// While Matomo fails, one batch at most, spool or not: hits read ahead can no longer give their place under
    /// DropOldest, so reading on would keep arbitrary hits and drop older ones around them.
    /// </remarks>
    private int Backlog => Failing ? _sending.BatchSize : _spiller is null || !Spooling ? _maxBacklog : Math.Min(_maxBacklog, _spiller.FailingHighWater);

    /// <summary>The next batch if one is due now, else null (then <see cref="WaitAsync"/>, unless <see cref="Drained"/>).</summary>
    public Batch? Take(CancellationToken abort)
    {
        abort.ThrowIfCancellationRequested();
        while (_freed.TryDequeue(out var freed))
        {
            _lanes.Free(freed);
        }

        var backlog = Backlog;
        lock (_encoding)
        {
            while (_lanes.Count < backlog && _queue.TryRead(out var hit))
            {
                _lanes.Add(_lanes.LaneOfCached(hit, _visitorIdentity), hit);
            }
        }

        var stopping = _stopping();
        if (Spooling && stopping && Failing && _lanes.Count > 0)
        {
            // Stopping while Matomo fails: what the lanes hold goes to disk at once, as the waiting hits do.
            _abandoned += AbandonLanes();
        }

        if (Spooling && !stopping && !Failing && (_replayTurn || (_lanes.Ready == 0 && _queue.Waiting == 0)) && _spool!.TakeOldest() is { } replay)
        {
            _replayTurn = false;
            if (!_replaying)
            {
                _replaying = true;
                Log.SpoolReplaying(_logger, _spool.Waiting, _spool.Statistics.Files);
            }

            return Taken(replay);
        }

        if (_replaying && _spool!.Statistics.Files == 0)
        {
            _replaying = false;
            Log.SpoolReplayed(_logger, _spool.Statistics.HitsReplayed);
        }

        var drained = _queue.IsDrained;
        if (_lanes.Ready >= _sending.BatchSize || (_lanes.Ready > 0 && drained))
        {
            return TakeLive();
        }

        if (_lanes.Ready > 0)
        {
            _readySince ??= _time.GetTimestamp();
            if (_time.GetElapsedTime(_readySince.Value) >= _sending.FlushInterval)
            {
                return TakeLive();
            }
        }

        Drained = drained && _lanes.Count == 0 && !_lanes.AnyBusy;
        _noReading = drained || _lanes.Count >= backlog;
        return null;
    }

    /// <summary>
    /// Waits on the queue's one reusable signal: for the hits that would fill a batch (one when none is ready; none when
    /// the backlog is full or the queue drained), a batch done, the end of the flush interval, the stop or its deadline.
    /// No allocation per wait; a wake may come early (the sender looks again).
    /// </summary>
    public async Task WaitAsync(CancellationToken abort)
    {
        var wait = _noReading
            ? _queue.WaitForWakeAsync()
            : _queue.WaitForHitsAsync(_lanes.Ready == 0 ? 1 : _sending.BatchSize - _lanes.Ready);
        if (!_freed.IsEmpty || abort.IsCancellationRequested)
        {
            _queue.WakeSender(); // a batch done (or the deadline) before the signal was armed
        }

        var timed = false;
        if (_readySince is { } since)
        {
            var left = _sending.FlushInterval - _time.GetElapsedTime(since);
            if (left <= TimeSpan.Zero)
            {
                _queue.WakeSender();
            }
            else
            {
                timed = true;
                FlushTimer.Change(left, Timeout.InfiniteTimeSpan);
            }
        }

        await wait.ConfigureAwait(false);
        if (timed)
        {
            FlushTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        abort.ThrowIfCancellationRequested();
    }

    /// <summary>A batch is done (or given up): its lanes are free for the next. Thread-safe; the caller wakes the sender.</summary>
    public void Free(Batch batch) => _freed.Enqueue(batch);

    /// <summary>
    /// At stop, once no batch runs and the spill thread ended: what is still held goes to the spool when there is one,
    /// else is dropped, the lanes' hits first (they are older), then the waiting ones; logs what was dropped
    /// (<paramref name="abandonedByRuns"/> included) and what the spool keeps (<paramref name="spooledBefore"/>: its
    /// count of spooled hits when the stop began).
    /// </summary>
    public void SettleAtStop(int abandonedByRuns, long spooledBefore)
    {
        var abandoned = abandonedByRuns + _abandoned + (_lanes.Count > 0 ? AbandonLanes() : 0);
        _spiller?.Spill(int.MaxValue);
        var left = _queue.DropWaiting(DropReasons.Shutdown);
        if (left + abandoned > 0)
        {
            Log.ShutdownDropped(_logger, left + abandoned, _sending.ShutdownTimeout);
        }

        if (_spool is { } spool && spool.Statistics is var stats && stats.HitsWaiting > 0)
        {
            Log.SpoolKeptAtStop(_logger, stats.HitsWaiting, stats.Files, spool.Directory!, stats.HitsSpooled - spooledBefore);
        }
    }

    public void Dispose() => _flushTimer?.Dispose();

    private int AbandonLanes()
    {
        Batch rest;
        lock (_encoding)
        {
            rest = _lanes.TakeAll();
        }

        using (rest)
        {
            return _delivery.Abandon(rest, DropReasons.Shutdown);
        }
    }

    private Batch TakeLive()
    {
        _replayTurn = true;
        lock (_encoding)
        {
            return Taken(_lanes.Take()!);
        }
    }

    private Batch Taken(Batch batch)
    {
        _readySince = null;
        return batch;
    }

    /// <summary>One timer for every batch's flush interval, moved per wait.</summary>
    private ITimer FlushTimer => _flushTimer ??= _time.CreateTimer(
        static s => ((HitQueue)s!).WakeSender(), _queue, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
}
