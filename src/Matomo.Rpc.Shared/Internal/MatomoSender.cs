using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The one background loop: waits for hits, fills a batch (by size or flush interval), hands it to
/// <see cref="HitDelivery"/>, backs off while delivery says the batch is worth a retry, and drains on stop until the
/// deadline. Up to MaxConcurrentRequests batches are delivered at once; with one, batches go out in order. Never dies.
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
    private ITimer? _deadline;
    private ITimer? _flushTimer;
    private int _stopping;
    private int _abandoned;

    public MatomoSender(HitQueue queue, HitDelivery delivery, MatomoOptions options, TimeProvider time, ILogger logger)
    {
        (_queue, _delivery, _sending) = (queue, delivery, options.Sending);
        (_time, _logger, _siteId, _withToken) = (time, logger, options.SiteId, !string.IsNullOrEmpty(options.TokenAuth));
    }

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
        _flushTimer?.Dispose();
        _abort.Dispose();
        base.Dispose();
    }

    // The stopping token is not used: stopping completes the queue, which ends the loop once drained, and the abort
    // token enforces the shutdown deadline.
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var abort = _abort.Token;
        using var slots = new SemaphoreSlim(_sending.MaxConcurrentRequests);
        var running = new List<Task>();
        try
        {
            while (true)
            {
                // A slot before a batch: with one request at a time, the next batch is taken when the last is done.
                await slots.WaitAsync(abort).ConfigureAwait(false);
                if (!await _queue.Reader.WaitToReadAsync(abort).ConfigureAwait(false))
                {
                    break;
                }

                var batch = await FillAsync(abort).ConfigureAwait(false);
                running.RemoveAll(static t => t.IsCompleted);
                running.Add(RunAsync(batch, slots, abort));
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
        }
        finally
        {
            await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var left = _queue.DropWaiting(DropReasons.Shutdown);
            if (left + _abandoned > 0)
            {
                Log.ShutdownDropped(_logger, left + _abandoned, _sending.ShutdownTimeout);
            }

            LogDrops();
        }
    }

    private async Task RunAsync(Batch batch, SemaphoreSlim slots, CancellationToken abort)
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
            slots.Release();
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
                while (hits.Count < _sending.BatchSize && _queue.Reader.TryRead(out var hit))
                {
                    _delivery.Prepare(hit, buffer, hits, crashes);
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

        return new Batch(hits, crashes, buffer);
    }

    /// <summary>One timer for every batch's flush interval, moved per wait.</summary>
    private ITimer FlushTimer => _flushTimer ??= _time.CreateTimer(
        static s => ((HitQueue)s!).WakeSender(), _queue, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    private void LogDrops()
    {
        if (_queue.TakeDropsToLog() is > 0 and var drops)
        {
            Log.HitsDropped(_logger, drops, _sending.QueueCapacity);
        }
    }
}
