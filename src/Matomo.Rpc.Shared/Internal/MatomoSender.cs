using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The one background loop: waits for hits, fills a batch (by size or flush interval), hands it to
/// <see cref="HitDelivery"/>, backs off while delivery says the batch is worth a retry, and drains on stop until the
/// deadline. As many batches are delivered at once as the <see cref="ConcurrencyLimiter"/> allows (at most
/// MaxConcurrentRequests); <see cref="VisitorLanes"/> keep each visitor's hits in order across them. Never dies.
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
    private readonly List<PendingHit> _scratch = new(1);
    private readonly List<PendingHit> _scratchCrashes = new(1);
    private volatile TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ITimer? _deadline;
    private int _stopping;
    private int _abandoned;

    public MatomoSender(HitQueue queue, HitDelivery delivery, MatomoOptions options, TimeProvider time, ILogger logger)
    {
        (_queue, _delivery, _sending) = (queue, delivery, options.Sending);
        (_time, _logger, _siteId, _withToken) = (time, logger, options.SiteId, !string.IsNullOrEmpty(options.TokenAuth));
        _limiter = delivery.Limiter;
        _lanes = new VisitorLanes(_sending.BatchSize);
        // Enough hits taken ahead that a batch can come from a few busy visitors' lanes rather than a little from every
        // lane (which would hold every lane, and leave the next batch nothing to take). They stay counted in the queue.
        _maxBacklog = 4 * _sending.BatchSize * (_sending.MaxConcurrentRequests + 1);
        _visitorIdentity = options.VisitorIdentity;
    }

    /// <summary>How many requests may be in flight now.</summary>
    internal ConcurrencyLimiter Limiter => _limiter;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Log.Started(_logger, _delivery.Describe, _siteId, _withToken ? " with a token" : string.Empty);
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopping, 1) == 0)
        {
            _queue.Complete();
            _deadline = _time.CreateTimer(static s => ((CancellationTokenSource)s!).Cancel(), _abort, _sending.ShutdownTimeout, Timeout.InfiniteTimeSpan);
        }

        using (cancellationToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), _abort))
        {
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override void Dispose()
    {
        _deadline?.Dispose();
        _abort.Dispose();
        base.Dispose();
    }

    // The stopping token is not used: stopping completes the queue, which ends the loop once drained, and the abort
    // token enforces the shutdown deadline.
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var abort = _abort.Token;
        var running = new List<Task>();
        try
        {
            while (true)
            {
                // A slot before a batch: with one request at a time, the next batch is taken when the last is done.
                await _limiter.WaitAsync(abort).ConfigureAwait(false);
                var batch = await NextBatchAsync(abort).ConfigureAwait(false);
                if (batch is null)
                {
                    _limiter.Release();
                    break;
                }

                running.RemoveAll(static t => t.IsCompleted);
                running.Add(RunAsync(batch, abort));
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
        }
        finally
        {
            await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (_lanes.Count > 0)
            {
                _abandoned += _delivery.Abandon(_lanes.TakeAll(), DropReasons.Shutdown);
            }

            var left = _queue.DropWaiting(DropReasons.Shutdown);
            if (left + _abandoned > 0)
            {
                Log.ShutdownDropped(_logger, left + _abandoned, _sending.ShutdownTimeout);
            }

            LogDrops();
        }
    }

    private async Task RunAsync(Batch batch, CancellationToken abort)
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
            LogDrops();
            _freed.Enqueue(batch);
            _limiter.Release();
            _wake.TrySetResult();
        }
    }

    /// <summary>
    /// The next batch, from visitor lanes no batch in flight holds: as soon as a batch is full, else once the flush
    /// interval has passed since hits were ready (at once when stopping). Null when stopping and every hit is taken.
    /// </summary>
    private async Task<Batch?> NextBatchAsync(CancellationToken abort)
    {
        long? readySince = null;
        while (true)
        {
            // Reset the signal before looking, so that a batch freed after this look wakes the wait below.
            if (_wake.Task.IsCompleted)
            {
                _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            while (_freed.TryDequeue(out var freed))
            {
                _lanes.Free(freed);
            }

            while (_lanes.Count < _maxBacklog && _queue.Reader.TryRead(out var hit))
            {
                _scratch.Clear();
                _scratchCrashes.Clear();
                _delivery.Prepare(hit, _scratch, _scratchCrashes);
                var lane = VisitorLanes.LaneOf(hit, _visitorIdentity);
                foreach (var pending in _scratch)
                {
                    _lanes.Add(lane, pending);
                }

                foreach (var crash in _scratchCrashes)
                {
                    _lanes.Add(lane, crash);
                }
            }

            var drained = _queue.Reader.Completion.IsCompleted;
            if (_lanes.Ready >= _sending.BatchSize || (_lanes.Ready > 0 && drained))
            {
                return _lanes.Take();
            }

            if (_lanes.Ready > 0)
            {
                readySince ??= _time.GetTimestamp();
                if (_time.GetElapsedTime(readySince.Value) >= _sending.FlushInterval)
                {
                    return _lanes.Take();
                }
            }

            if (drained && _lanes.Count == 0 && !_lanes.AnyBusy)
            {
                return null;
            }

            await WaitAsync(readySince, drained || _lanes.Count >= _maxBacklog, abort).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for new hits (unless <paramref name="noReading"/>), a freed batch, or the end of the flush interval.</summary>
    private async Task WaitAsync(long? readySince, bool noReading, CancellationToken abort)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(abort);
        var tasks = new List<Task>(3) { _wake.Task };
        if (!noReading)
        {
            tasks.Add(_queue.Reader.WaitToReadAsync(wait.Token).AsTask());
        }

        if (readySince is { } since)
        {
            var left = _sending.FlushInterval - _time.GetElapsedTime(since);
            tasks.Add(Task.Delay(left > TimeSpan.Zero ? left : TimeSpan.Zero, _time, wait.Token));
        }

        await Task.WhenAny(tasks).ConfigureAwait(false);
        await wait.CancelAsync().ConfigureAwait(false);
        abort.ThrowIfCancellationRequested();
    }

    private void LogDrops()
    {
        if (_queue.TakeDropsToLog() is > 0 and var drops)
        {
            Log.HitsDropped(_logger, drops, _sending.QueueCapacity);
        }
    }
}
