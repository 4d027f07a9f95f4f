using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The one background loop: waits for hits, fills a batch (by size or flush interval), hands it to
/// <see cref="HitDelivery"/>, backs off while delivery says the batch is worth a retry, and drains on stop until the
/// deadline. As many batches are delivered at once as the <see cref="ConcurrencyLimiter"/> allows (at most
/// MaxConcurrentRequests); <see cref="VisitorLanes"/> keep each visitor's hits in order across them. Never dies.
/// <para>
/// With a spool (<c>Matomo:Spool:Directory</c>): opened at start (another process holding it fails the start) and closed
/// at stop. Hits go to disk when they would otherwise be lost: while Matomo fails and more than a tenth of the queue (at
/// least a batch) waits, when the queue is nearly full, and at stop for everything not sent by the deadline (at once when Matomo fails). The
/// spool is replayed, oldest file first, at start and whenever Matomo answers again, one file per batch, taking turns
/// with batches of live hits so that fresh calls are not starved.
/// </para>
/// </summary>
internal sealed class MatomoSender : BackgroundService
{
    private readonly HitQueue _queue;
    private readonly HitDelivery _delivery;
    private readonly MatomoSendingOptions _sending;
    private readonly int _siteId;
    private readonly bool _withToken;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _abort = new();
    private readonly ConcurrencyLimiter _limiter;
    private readonly VisitorLanes _lanes;
    private readonly int _maxBacklog;
    private readonly MatomoVisitorIdentity _visitorIdentity;
    private readonly System.Collections.Concurrent.ConcurrentQueue<Batch> _freed = new();
    private readonly HitSpool? _spool;
    private readonly SendHealth? _health;
    private readonly Lock _encoding = new();
    private readonly int _highWater;
    private readonly int _failingHighWater;
    private ITimer? _deadline;
    private ITimer? _flushTimer;
    private int _stopping;
    private int _abandoned;
    private bool _replayTurn = true;
    private bool _replaying;
    private int _spillLogged;

    public MatomoSender(HitQueue queue, HitDelivery delivery, MatomoOptions options, TimeProvider time, ILogger logger, HitSpool? spool = null, SendHealth? health = null)
    {
        (_queue, _delivery, _sending) = (queue, delivery, options.Sending);
        (_time, _logger, _siteId, _withToken) = (time, logger, options.SiteId, !string.IsNullOrEmpty(options.TokenAuth));
        (_spool, _health) = (spool, health);
        _limiter = delivery.Limiter;
        _lanes = new VisitorLanes(_sending.BatchSize, delivery.Prepare);
        // Enough hits taken ahead that a batch can come from a few busy visitors' lanes rather than a little from every
        // lane (which would hold every lane, and leave the next batch nothing to take). They stay counted in the queue.
        _maxBacklog = 4 * _sending.BatchSize * (_sending.MaxConcurrentRequests + 1);
        _visitorIdentity = options.VisitorIdentity;
        // A tenth of the queue (at least a batch): while Matomo fails, the rest of the queue is room for the calls that
        // come while a spill is written; when Matomo answers but slower than the calls, spill only past half.
        _highWater = Math.Max(1, options.Sending.QueueCapacity / 2);
        _failingHighWater = Math.Min(_highWater, Math.Max(options.Sending.BatchSize, options.Sending.QueueCapacity / 10));
    }

    /// <summary>How many requests may be in flight now.</summary>
    internal ConcurrencyLimiter Limiter => _limiter;

    private bool Spooling => _spool is { Active: true };

    private bool Failing => _health?.Failure is not null;

    private bool Stopping => Volatile.Read(ref _stopping) != 0;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Log.Started(_logger, _delivery.Describe, _siteId, _withToken ? " with a token" : string.Empty);

        // A lock conflict (another process on the directory) throws here and fails the start, naming the setting.
        _spool?.Open();
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopping, 1) == 0)
        {
            _queue.Complete();
            _deadline = _time.CreateTimer(static s => ((CancellationTokenSource)s!).Cancel(), _abort, _sending.ShutdownTimeout, Timeout.InfiniteTimeSpan);
        }

        Wake();
        using (cancellationToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), _abort))
        {
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
        }

        _spool?.Dispose();
    }

    public override void Dispose()
    {
        _deadline?.Dispose();
        _flushTimer?.Dispose();
        _abort.Dispose();
        _spool?.Dispose();
        base.Dispose();
    }

    // The stopping token is not used: stopping completes the queue, which ends the loop once drained, and the abort
    // token enforces the shutdown deadline.
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var abort = _abort.Token;
        using var onAbort = abort.UnsafeRegister(static s => ((HitQueue)s!).WakeSender(), _queue);
        using var spillEnd = CancellationTokenSource.CreateLinkedTokenSource(abort);
        var spilling = Spooling ? StartSpilling(spillEnd.Token) : Task.CompletedTask;
        var running = new List<Task>();
        var spooledBefore = 0L;
        try
        {
            while (true)
            {
                // A slot before a batch: with one request at a time, the next batch is taken when the last is done.
                await _limiter.WaitAsync(abort).ConfigureAwait(false);
                var batch = await NextAsync(abort).ConfigureAwait(false);
                if (batch is null)
                {
                    _limiter.Release();
                    break;
                }

                running.RemoveAll(static t => t.IsCompleted);
                running.Add(RunAsync(batch, holdsSlot: true, abort));
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
        }
        finally
        {
            spooledBefore = _spool?.Statistics.HitsSpooled ?? 0;
            await spillEnd.CancelAsync().ConfigureAwait(false);
            await spilling.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

            // What is still held: to the spool when there is one, else dropped. The lanes' hits first (they are older).
            if (_lanes.Count > 0)
            {
                using var rest = _lanes.TakeAll();
                _abandoned += _delivery.Abandon(rest, DropReasons.Shutdown);
            }

            Spill(int.MaxValue);
            var left = _queue.DropWaiting(DropReasons.Shutdown);
            if (left + _abandoned > 0)
            {
                Log.ShutdownDropped(_logger, left + _abandoned, _sending.ShutdownTimeout);
            }

            if (_spool is { } spool && spool.Statistics is var stats && stats.HitsWaiting > 0)
            {
                Log.SpoolKeptAtStop(_logger, stats.HitsWaiting, stats.Files, spool.Directory!, stats.HitsSpooled - spooledBefore);
            }

            LogDrops();
        }
    }

    /// <summary>
    /// The next batch: a spool file when it is the spool's turn (or no live hit is ready) and Matomo is not failing, else
    /// live hits from visitor lanes no batch in flight holds: as soon as a batch is full, else once the flush interval has
    /// passed since hits were ready (at once when stopping). Null when stopping and every hit is taken. A replayed file
    /// holds no lane (its visitors' order was given up when it was spooled) but takes a slot like any batch.
    /// </summary>
    private async Task<Batch?> NextAsync(CancellationToken abort)
    {
        long? readySince = null;
        while (true)
        {
            abort.ThrowIfCancellationRequested();
            while (_freed.TryDequeue(out var freed))
            {
                _lanes.Free(freed);
            }

            var backlog = Backlog;
            lock (_encoding)
            {
                while (_lanes.Count < backlog && _queue.Reader.TryRead(out var hit))
                {
                    _lanes.Add(VisitorLanes.LaneOf(hit, _visitorIdentity), hit);
                }
            }

            if (Spooling && Stopping && Failing && _lanes.Count > 0)
            {
                // Stopping while Matomo fails: what the lanes hold goes to disk at once, as the waiting hits do.
                using var rest = _lanes.TakeAll();
                Interlocked.Add(ref _abandoned, _delivery.Abandon(rest, DropReasons.Shutdown));
            }

            if (Spooling && !Stopping && !Failing && (_replayTurn || (_lanes.Ready == 0 && _queue.Waiting == 0)) && _spool!.TakeOldest() is { } replay)
            {
                _replayTurn = false;
                if (!_replaying)
                {
                    _replaying = true;
                    Log.SpoolReplaying(_logger, _spool.Waiting, _spool.Statistics.Files);
                }

                return replay;
            }

            if (_replaying && _spool!.Statistics.Files == 0)
            {
                _replaying = false;
                Log.SpoolReplayed(_logger, _spool.Statistics.HitsReplayed);
            }

            var drained = _queue.Reader.Completion.IsCompleted;
            if (_lanes.Ready >= _sending.BatchSize || (_lanes.Ready > 0 && drained))
            {
                return TakeLive();
            }

            if (_lanes.Ready > 0)
            {
                readySince ??= _time.GetTimestamp();
                if (_time.GetElapsedTime(readySince.Value) >= _sending.FlushInterval)
                {
                    return TakeLive();
                }
            }

            if (drained && _lanes.Count == 0 && !_lanes.AnyBusy)
            {
                return null;
            }

            await WaitAsync(readySince, drained || _lanes.Count >= backlog, abort).ConfigureAwait(false);
        }
    }

    /// <summary>Hits taken ahead into the lanes; with a spool, no more than would be spilled while Matomo fails.</summary>
    /// <remarks>
    /// While Matomo fails, one batch at most, spool or not: hits read ahead can no longer give their place under
    /// DropOldest, so reading on would keep arbitrary hits and drop older ones around them.
    /// </remarks>
    private int Backlog => Failing ? _sending.BatchSize : !Spooling ? _maxBacklog : Math.Min(_maxBacklog, _failingHighWater);

    private Batch TakeLive()
    {
        _replayTurn = true;
        return _lanes.Take()!;
    }

    /// <summary>
    /// Waits on the queue's one reusable signal: for the hits that would fill a batch (one when none is ready; none when
    /// <paramref name="noReading"/>), a batch done, the end of the flush interval, the stop or its deadline. No allocation
    /// per wait; a wake may come early (the sender looks again).
    /// </summary>
    private async Task WaitAsync(long? readySince, bool noReading, CancellationToken abort)
    {
        var wait = noReading
            ? _queue.WaitForWakeAsync()
            : _queue.WaitForHitsAsync(_lanes.Ready == 0 ? 1 : _sending.BatchSize - _lanes.Ready);
        if (!_freed.IsEmpty || abort.IsCancellationRequested)
        {
            _queue.WakeSender(); // a batch done (or the deadline) before the signal was armed
        }

        var timed = false;
        if (readySince is { } since)
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

    /// <summary>Moves hits from the queue to the spool when they would otherwise be lost; polls, so calls pay nothing.</summary>
    private Task StartSpilling(CancellationToken end)
    {
        // Its own thread, waiting on the OS rather than on a timer: the calls that fill the queue also fill the thread
        // pool, and a poll queued behind them would come too late to keep the queue from overflowing.
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                SpillLoop(end);
            }
#pragma warning disable CA1031 // the spill loop must not take the process down; the sender goes on without it
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.SenderFailed(_logger, ex);
            }
            finally
            {
                done.TrySetResult();
            }
        })
        {
            IsBackground = true,
            Name = "Matomo.Rpc spool",
        };
        thread.Start();
        return done.Task;
    }

    private void SpillLoop(CancellationToken end)
    {
        // Every 50 ms (or the flush interval if shorter); every 5 ms while hits are being moved, as calls keep coming.
        // A poll period in real time (not the TimeProvider's): it reports no time and decides nothing about a hit.
        var idle = _sending.FlushInterval < TimeSpan.FromMilliseconds(50) ? _sending.FlushInterval : TimeSpan.FromMilliseconds(50);
        var busy = TimeSpan.FromMilliseconds(5);
        var spilled = false;
        while (!end.WaitHandle.WaitOne(spilled ? busy : idle))
        {
            var waiting = _queue.Waiting;
            var failing = Failing;
            if (failing && (waiting >= _failingHighWater || Stopping))
            {
                // Matomo fails: what waits goes to disk (at a stop all of it, at once, so the stop waits for nothing).
                if (Interlocked.Exchange(ref _spillLogged, 1) == 0)
                {
                    Log.SpoolingWhileFailing(_logger, waiting, _sending.QueueCapacity, _spool!.Directory!);
                }

                spilled = Spill(waiting) > 0;
            }
            else if (_queue.Count >= _sending.QueueCapacity - _sending.BatchSize && _queue.Count > _highWater)
            {
                // Nearly full while Matomo answers (slower than the calls): the oldest waiting hits make room.
                spilled = Spill(Math.Min(waiting, _queue.Count - _highWater)) > 0;
            }
            else
            {
                spilled = false;
                if (!failing)
                {
                    Volatile.Write(ref _spillLogged, 0);
                }
            }
        }
    }

    /// <summary>Takes up to <paramref name="count"/> waiting hits out of the queue into the spool, oldest first.</summary>
    private int Spill(int count)
    {
        if (!Spooling || count <= 0)
        {
            return 0;
        }

        // Encoded straight into the spool's records: no string or object per hit on the way to disk.
        var records = new SpoolRecords(Math.Min(count, _queue.Waiting + _sending.BatchSize) * 512);
        lock (_encoding)
        {
            for (var taken = 0; taken < count && _queue.Reader.TryRead(out var hit); taken++)
            {
                _delivery.PrepareSpooled(hit, records);
            }
        }

        var spilled = records.Count;
        if (_delivery.Keep(records) is { } notKept)
        {
            // The spool turned unusable on the way: these hits are delivered (or dropped at the deadline) as without one.
            _ = RunAsync(notKept, holdsSlot: false, _abort.Token);
        }

        return spilled;
    }

    private async Task RunAsync(Batch batch, bool holdsSlot, CancellationToken abort)
    {
        try
        {
            while (await _delivery.DeliverAsync(batch, abort).ConfigureAwait(false) is { Done: false } failed)
            {
                _queue.Metrics.Retried();
                var delay = Backoff.Delay(_sending, batch.FailedAttempts++, failed.RetryAfter);
                Log.SendRetrying(_logger, batch.Unaccounted, failed.Reason!, delay);
                LogDrops();
                await Task.Delay(delay, _time, abort).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            Interlocked.Add(ref _abandoned, _delivery.Abandon(batch, DropReasons.Shutdown));
        }
#pragma warning disable CA1031 // the sender's loop must never die; every hit of the batch is still counted once
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.SenderFailed(_logger, ex);
            _delivery.Abandon(batch, DropReasons.Error);
        }
        finally
        {
            batch.Dispose();
            LogDrops();
            _freed.Enqueue(batch);
            if (holdsSlot)
            {
                _limiter.Release();
            }

            Wake();
        }
    }

    /// <summary>One timer for every batch's flush interval, moved per wait.</summary>
    private ITimer FlushTimer => _flushTimer ??= _time.CreateTimer(
        static s => ((HitQueue)s!).WakeSender(), _queue, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    private void Wake() => _queue.WakeSender();

    private void LogDrops()
    {
        if (_queue.TakeDropsToLog() is > 0 and var drops)
        {
            Log.HitsDropped(_logger, drops, _sending.QueueCapacity);
        }
    }
}
