using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Runs one batch to its end: hands it to <see cref="HitDelivery"/> and, while delivery says a failure is worth a retry,
/// backs off (<see cref="Backoff"/>, on the <see cref="TimeProvider"/>; one timer per wait, the batch keeps its attempts)
/// and hands it back. At the shutdown deadline the rest is given up (spooled or dropped, counted in
/// <see cref="Abandoned"/>). Never throws: every hit of the batch is counted once. When the batch is done its lanes are
/// freed, its request slot released and the sender woken.
/// </summary>
internal sealed class BatchRunner
{
    private readonly HitDelivery _delivery;
    private readonly HitQueue _queue;
    private readonly BatchSource _source;
    private readonly MatomoSendingOptions _sending;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private int _abandoned;

    public BatchRunner(HitDelivery delivery, HitQueue queue, BatchSource source, MatomoSendingOptions sending, TimeProvider time, ILogger logger)
    {
        (_delivery, _queue, _source, _sending, _time, _logger) = (delivery, queue, source, sending, time, logger);
    }

    /// <summary>Hits given up at the shutdown deadline by runs that were cut short (not those kept on disk).</summary>
    public int Abandoned => Volatile.Read(ref _abandoned);

    /// <param name="batch">The batch; disposed when done.</param>
    /// <param name="holdsSlot">The batch holds one of the <see cref="ConcurrencyLimiter"/>'s slots, released when done.</param>
    /// <param name="abort">The shutdown deadline.</param>
    public async Task RunAsync(Batch batch, bool holdsSlot, CancellationToken abort)
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
            _source.Free(batch);
            if (holdsSlot)
            {
                _delivery.Limiter.Release();
            }

            _queue.WakeSender();
        }
    }

    /// <summary>Logs the queue's drops since the last time, as one count.</summary>
    public void LogDrops()
    {
        if (_queue.TakeDropsToLog() is > 0 and var drops)
        {
            Log.HitsDropped(_logger, drops, _sending.QueueCapacity);
        }
    }
}
