using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The one background loop: waits for hits, fills a batch (by size or flush interval), hands it to
/// <see cref="HitDelivery"/>, backs off while delivery says the batch is worth a retry, and drains on stop until the
/// deadline. Up to MaxConcurrentRequests batches are delivered at once; with one, batches go out in order. Never dies.
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
    private readonly HitSpool? _spool;
    private readonly SendHealth? _health;
    private readonly Lock _encoding = new();
    private readonly int _highWater;
    private readonly int _failingHighWater;
    private TaskCompletionSource _wake = NewWake();
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
        // A tenth of the queue (at least a batch): while Matomo fails, the rest of the queue is room for the calls that
        // come while a spill is written; when Matomo answers but slower than the calls, spill only past half.
        _highWater = Math.Max(1, options.Sending.QueueCapacity / 2);
        _failingHighWater = Math.Min(_highWater, Math.Max(options.Sending.BatchSize, options.Sending.QueueCapacity / 10));
    }

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
        using var slots = new SemaphoreSlim(_sending.MaxConcurrentRequests);
        using var spillEnd = CancellationTokenSource.CreateLinkedTokenSource(abort);
        var spilling = Spooling ? StartSpilling(spillEnd.Token) : Task.CompletedTask;
        var running = new List<Task>();
        var spooledBefore = 0L;
        try
        {
            while (true)
            {
                // A slot before a batch: with one request at a time, the next batch is taken when the last is done.
                await slots.WaitAsync(abort).ConfigureAwait(false);
                var batch = await NextAsync(abort).ConfigureAwait(false);
                if (batch is null)
                {
                    break;
                }

                running.RemoveAll(static t => t.IsCompleted);
                running.Add(RunAsync(batch, slots, abort));
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

            // What is still waiting: to the spool when there is one, else dropped.
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
    /// The next batch: a spool file when it is the spool's turn (or no live hit waits) and Matomo is not failing, else
    /// live hits from the queue; null when the queue is completed and empty.
    /// </summary>
    private async Task<Batch?> NextAsync(CancellationToken abort)
    {
        while (true)
        {
            var wake = Volatile.Read(ref _wake).Task;
            if (Spooling && !Stopping && !Failing && (_replayTurn || _queue.Waiting == 0) && _spool!.TakeOldest() is { } replay)
            {
                _replayTurn = false;
                if (!_replaying)
                {
                    _replaying = true;
                    Log.SpoolReplaying(_logger, _spool.Waiting, _spool.Statistics.Files);
                }

                return replay;
            }

            _replayTurn = true;
            if (!Spooling || Stopping || _queue.Waiting > 0)
            {
                if (!await _queue.Reader.WaitToReadAsync(abort).ConfigureAwait(false))
                {
                    return null;
                }

                return await FillAsync(abort).ConfigureAwait(false);
            }

            if (_replaying && _spool!.Statistics.Files == 0)
            {
                _replaying = false;
                Log.SpoolReplayed(_logger, _spool.Statistics.HitsReplayed);
            }

            // Nothing to send now: wait for a hit, or for a reason to look at the spool again (a batch done, Matomo back).
            var read = _queue.Reader.WaitToReadAsync(abort).AsTask();
            await Task.WhenAny(read, wake).ConfigureAwait(false);
            if (read.IsCompleted && !await read.ConfigureAwait(false))
            {
                return null;
            }
        }
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

        List<PendingHit> hits = [], crashes = [];
        var buffer = new HitBuffer();
        lock (_encoding)
        {
            for (var taken = 0; taken < count && _queue.Reader.TryRead(out var hit); taken++)
            {
                _delivery.Prepare(hit, buffer, hits, crashes);
                if (crashes.Count > 0)
                {
                    hits.AddRange(crashes);
                    crashes.Clear();
                }
            }
        }

        if (_delivery.Keep(hits) is { Count: > 0 } notKept)
        {
            // The spool turned unusable on the way: these hits are delivered (or dropped at the deadline) as without one.
            var split = notKept.FindAll(static h => !h.IsCrash);
            _ = RunAsync(new Batch(split, notKept.FindAll(static h => h.IsCrash), buffer: buffer), null, _abort.Token);
        }
        else
        {
            buffer.Dispose(); // the spool holds the kept hits' queries as strings now
        }

        return hits.Count;
    }

    private async Task RunAsync(Batch batch, SemaphoreSlim? slots, CancellationToken abort)
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
            slots?.Release();
            Wake();
        }
    }

    /// <summary>
    /// Takes hits until the batch is full or the flush interval since it started waiting has passed. It waits for the
    /// hits that would fill the batch, not for each hit, on one reusable timer and signal: no allocation per wait.
    /// </summary>
    private async Task<Batch> FillAsync(CancellationToken abort)
    {
        List<PendingHit> hits = new(_sending.BatchSize), crashes = [];
        var buffer = new HitBuffer();
        var waiting = false;
        long started = 0;
        CancellationTokenRegistration onAbort = default;
        try
        {
            while (true)
            {
                lock (_encoding)
                {
                    while (hits.Count < _sending.BatchSize && _queue.Reader.TryRead(out var hit))
                    {
                        _delivery.Prepare(hit, buffer, hits, crashes);
                    }
                }

                if (hits.Count >= _sending.BatchSize || _queue.Reader.Completion.IsCompleted)
                {
                    break; // full, or stopping and every hit taken
                }

                abort.ThrowIfCancellationRequested();
                if (!waiting)
                {
                    waiting = true;
                    started = _time.GetTimestamp();
                    onAbort = abort.UnsafeRegister(static s => ((HitQueue)s!).WakeSender(), _queue);
                }

                var left = _sending.FlushInterval - _time.GetElapsedTime(started);
                if (left <= TimeSpan.Zero)
                {
                    break; // the flush interval passed
                }

                var wait = _queue.WaitForHitsAsync(_sending.BatchSize - hits.Count);
                if (abort.IsCancellationRequested)
                {
                    _queue.WakeSender();
                }

                FlushTimer.Change(left, Timeout.InfiniteTimeSpan);
                await wait.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The stop deadline passed: delivery then counts the batch as dropped.
        }
        finally
        {
            if (waiting)
            {
                FlushTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                await onAbort.DisposeAsync().ConfigureAwait(false);
            }
        }

        return new Batch(hits, crashes, buffer: buffer);
    }

    /// <summary>One timer for every batch's flush interval, moved per wait.</summary>
    private ITimer FlushTimer => _flushTimer ??= _time.CreateTimer(
        static s => ((HitQueue)s!).WakeSender(), _queue, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Wake() => Interlocked.Exchange(ref _wake, NewWake()).TrySetResult();

    private void LogDrops()
    {
        if (_queue.TakeDropsToLog() is > 0 and var drops)
        {
            Log.HitsDropped(_logger, drops, _sending.QueueCapacity);
        }
    }
}
