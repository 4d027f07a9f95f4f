using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The one background sender: reads the queue, batches by size or interval, sends, retries transient failures with
/// capped exponential backoff and jitter while keeping the hits, isolates a poisoned hit when Matomo rolls a batch
/// back, and drains on shutdown until the deadline. Its loop never dies.
/// </summary>
internal sealed class MatomoSender : BackgroundService
{
    private const int RollbackRetries = 2;

    // A batch rolled back down to a single hit with nothing of it answered looks like Matomo failing (database down,
    // which also answers 500), not like a poisoned hit: keep it through this many more backoffs before dropping it.
    private const int OutageRetries = 8;
    private static readonly TimeSpan TokenlessMaxAge = TimeSpan.FromHours(24) - TimeSpan.FromMinutes(1);

    private readonly HitQueue _queue;
    private readonly IHitWriter _writer;
    private readonly HitEncoder _encoder;
    private readonly MatomoOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _abort = new();
    private readonly bool _withToken;
    private readonly TrackingState _state;
    private ITimer? _deadline;
    private int _stopping;
    private int _unsentAtAbort;

    public MatomoSender(HitQueue queue, IHitWriter writer, HitEncoder encoder, MatomoOptions options, TimeProvider time, ILogger logger, TrackingState? state = null)
    {
        _state = state ?? new TrackingState();
        _queue = queue;
        _writer = writer;
        _encoder = encoder;
        _options = options;
        _time = time;
        _logger = logger;
        _withToken = !string.IsNullOrEmpty(options.TokenAuth);
    }

    private MatomoMetrics Metrics => _queue.Metrics;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Log.Started(_logger, _writer.Describe, _options.SiteId, _withToken ? " with a token" : string.Empty);
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopping, 1) == 0)
        {
            _queue.Complete();
            _deadline = _time.CreateTimer(static state => ((CancellationTokenSource)state!).Cancel(), _abort, _options.Sending.ShutdownTimeout, Timeout.InfiniteTimeSpan);
        }

        using (cancellationToken.Register(static state => ((CancellationTokenSource)state!).Cancel(), _abort))
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

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The stopping token is not used: stopping completes the queue, which ends the loop once drained, and the
        // abort token enforces the shutdown deadline.
        var abort = _abort.Token;
        var concurrency = _options.Sending.MaxConcurrentRequests;
        using var slots = new SemaphoreSlim(concurrency, concurrency);
        var inFlight = new List<Task>();
        try
        {
            while (await _queue.Reader.WaitToReadAsync(abort).ConfigureAwait(false))
            {
                var batch = new List<PendingHit>(_options.Sending.BatchSize);
                var isolated = new List<PendingHit>();
                try
                {
                    await FillAsync(batch, isolated, abort).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.SenderFailed(_logger, ex);
                    Metrics.Dropped(batch.Count + isolated.Count, DropReasons.Error);
                    continue;
                }

                if (concurrency == 1)
                {
                    await ProcessAsync(batch, isolated, abort).ConfigureAwait(false);
                    continue;
                }

                try
                {
                    await slots.WaitAsync(abort).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    CountUnsentAtAbort(batch.Count + isolated.Count);
                    throw;
                }

                inFlight.RemoveAll(static t => t.IsCompleted);
                inFlight.Add(ProcessInSlotAsync(batch, isolated, slots, abort));
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
        }
        finally
        {
            // Requests still in flight end by themselves: sent, or given up at the shutdown deadline.
            await Task.WhenAll(inFlight).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var left = 0;
            while (_queue.Reader.TryRead(out _))
            {
                left++;
            }

            Metrics.Dropped(left, DropReasons.Shutdown);
            var unsent = left + Volatile.Read(ref _unsentAtAbort);
            if (unsent > 0)
            {
                Log.ShutdownDropped(_logger, unsent, _options.Sending.ShutdownTimeout);
            }

            LogDrops();
        }
    }

    private async Task ProcessInSlotAsync(List<PendingHit> batch, List<PendingHit> isolated, SemaphoreSlim slots, CancellationToken abort)
    {
        try
        {
            await ProcessAsync(batch, isolated, abort).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            // Counted by ProcessAsync; the loop sees the abort on its own.
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>Sends one batch and then its crash hits, each alone. Throws only when the shutdown deadline aborts it.</summary>
    private async Task ProcessAsync(List<PendingHit> batch, List<PendingHit> isolated, CancellationToken abort)
    {
        var crashesLeft = isolated.Count;
        try
        {
            await SendAsync(batch, abort).ConfigureAwait(false);
            foreach (var crash in isolated)
            {
                crashesLeft--;
                await SendAsync([crash], abort).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            // SendAsync counts the hits it was sending; the crash hits not yet tried are counted here.
            CountUnsentAtAbort(crashesLeft);
            throw;
        }
#pragma warning disable CA1031 // the sender's loop must never die
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.SenderFailed(_logger, ex);
            Metrics.Dropped(batch.Count + isolated.Count, DropReasons.Error);
            await Task.Delay(_options.Sending.RetryBaseDelay, _time, abort).ConfigureAwait(false);
        }
        finally
        {
            LogDrops();
        }
    }

    private void CountUnsentAtAbort(int count)
    {
        Metrics.Dropped(count, DropReasons.Shutdown);
        Interlocked.Add(ref _unsentAtAbort, count);
    }

    private async Task FillAsync(List<PendingHit> batch, List<PendingHit> isolated, CancellationToken abort)
    {
        var size = _options.Sending.BatchSize;
        var started = _time.GetTimestamp();
        while (true)
        {
            while (batch.Count < size && _queue.Reader.TryRead(out var hit))
            {
                Add(hit, batch, isolated);
            }

            if (batch.Count >= size)
            {
                return;
            }

            var remaining = _options.Sending.FlushInterval - _time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                return;
            }

            using var interval = new CancellationTokenSource(remaining, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(abort, interval.Token);
            try
            {
                if (!await _queue.Reader.WaitToReadAsync(linked.Token).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (!abort.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException)
            {
                // The shutdown deadline passed while this batch was filled: its hits have left the queue, so they are
                // counted here or nowhere.
                CountUnsentAtAbort(batch.Count + isolated.Count);
                batch.Clear();
                isolated.Clear();
                throw;
            }
        }
    }

    private void Add(MatomoHit hit, List<PendingHit> batch, List<PendingHit> isolated)
    {
        string query;
        try
        {
            query = _encoder.Encode(hit);
        }
#pragma warning disable CA1031 // one hit that cannot be encoded must not stop the others
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.SenderFailed(_logger, ex);
            Metrics.Rejected(1);
            return;
        }

        batch.Add(new PendingHit(hit, query));
        if (_options.TrackCrashes && hit.Outcome.IsError && hit.ErrorType is not null)
        {
            try
            {
                isolated.Add(new PendingHit(hit, _encoder.EncodeCrash(hit), isolated: true));
            }
#pragma warning disable CA1031 // the crash hit is extra: the call's own hit is already in the batch
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.SenderFailed(_logger, ex);
            }
        }
    }

    private async Task SendAsync(List<PendingHit> batch, CancellationToken abort)
    {
        if (batch.Count == 0)
        {
            return;
        }

        var segments = new Stack<List<PendingHit>>();
        segments.Push([.. batch]);
        var attempt = 0;
        var rollbackRetries = 0;
        var outageRetries = 0;
        var anyAnswered = false;
        var splitLogged = false;
        try
        {
            while (segments.Count > 0)
            {
                var segment = segments.Peek();
                DropExpired(segment);
                if (segment.Count == 0)
                {
                    segments.Pop();
                    continue;
                }

                var started = _time.GetTimestamp();
                var result = await _writer.WriteAsync(segment, abort).ConfigureAwait(false);
                Metrics.Request(segment.Count, _time.GetElapsedTime(started));
                switch (result.Status)
                {
                    case SendStatus.Answered:
                        segments.Pop();
                        anyAnswered = true;
                        Account(result, segment.Count);
                        if (attempt > 0)
                        {
                            Log.SendRecovered(_logger, result.Tracked, attempt);
                        }

                        attempt = 0;
                        break;

                    case SendStatus.Refused:
                        segments.Pop();
                        Metrics.Rejected(segment.Count);
                        Log.RequestRefused(_logger, segment.Count, result.StatusCode, FixFor(result.StatusCode));
                        break;

                    case SendStatus.Transient:
                        await BackOffAsync(segment.Count, result.Reason ?? "transient failure", attempt++, result.RetryAfter, abort).ConfigureAwait(false);
                        break;

                    case SendStatus.RolledBack when !anyAnswered && rollbackRetries < RollbackRetries:
                        // Until some part of the batch goes through, a rollback may be Matomo's own trouble (database down).
                        rollbackRetries++;
                        await BackOffAsync(segment.Count, result.Reason ?? "rolled back", attempt++, null, abort).ConfigureAwait(false);
                        break;

                    case SendStatus.RolledBack when segment.Count == 1 && !anyAnswered && outageRetries < OutageRetries:
                        outageRetries++;
                        await BackOffAsync(segment.Count, result.Reason ?? "rolled back", attempt++, null, abort).ConfigureAwait(false);
                        break;

                    case SendStatus.RolledBack when segment.Count == 1:
                        segments.Pop();
                        Metrics.Dropped(1, DropReasons.Poisoned);
                        Log.PoisonedHitDropped(_logger, segment[0].Hit.Action);
                        break;

                    case SendStatus.RolledBack:
                        if (!splitLogged)
                        {
                            splitLogged = true;
                            Log.BatchRolledBack(_logger, result.StatusCode);
                        }

                        segments.Pop();
                        var half = segment.Count / 2;
                        segments.Push(segment.GetRange(half, segment.Count - half));
                        segments.Push(segment.GetRange(0, half));
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            CountUnsentAtAbort(segments.Sum(static s => s.Count));
            throw;
        }
    }

    private void Account(SendResult result, int count)
    {
        var tracked = Math.Clamp(result.Tracked, 0, count);
        var invalid = Math.Clamp(result.Invalid, 0, count - tracked);
        var unaccounted = count - tracked - invalid;
        Metrics.Sent(tracked);
        Metrics.Rejected(invalid + unaccounted);
        if (unaccounted > 0)
        {
            Log.UnexpectedAnswer(_logger, count, result.Reason ?? $"tracked={result.Tracked} invalid={result.Invalid}",
                "the hits Matomo did not count are counted as rejected.");
        }
        else if (invalid > 0)
        {
            Log.HitsRejected(_logger, invalid, count);
        }
    }

    private async Task BackOffAsync(int count, string reason, int attempt, TimeSpan? retryAfter, CancellationToken abort)
    {
        Metrics.Retried();
        var sending = _options.Sending;
        var exponential = sending.RetryBaseDelay * Math.Pow(2, Math.Min(attempt, 20));
        var delay = exponential * (0.8 + (Random.Shared.NextDouble() * 0.4));
        if (delay > sending.RetryMaxDelay)
        {
            // RetryMaxDelay is the longest wait, jitter included.
            delay = sending.RetryMaxDelay;
        }

        if (retryAfter is { } after && after > delay)
        {
            delay = after > sending.RetryMaxDelay ? sending.RetryMaxDelay : after;
        }

        Log.SendRetrying(_logger, count, reason, delay);
        LogDrops();
        await Task.Delay(delay, _time, abort).ConfigureAwait(false);
    }

    private void DropExpired(List<PendingHit> segment)
    {
        if (_withToken && _state.TokenTrusted)
        {
            return;
        }

        var cutoff = _time.GetUtcNow() - TokenlessMaxAge;
        var expired = segment.RemoveAll(h => h.Hit.Timestamp < cutoff);
        if (expired > 0)
        {
            Metrics.Dropped(expired, DropReasons.Expired);
            Log.ExpiredHitsDropped(_logger, expired);
        }
    }

    private void LogDrops()
    {
        var drops = _queue.TakeDropsToLog();
        if (drops > 0)
        {
            Log.HitsDropped(_logger, drops, _options.Sending.QueueCapacity);
        }
    }

    private static string FixFor(int statusCode) => statusCode switch
    {
        401 or 403 => "Check Matomo:TokenAuth: the token must belong to a user with write access to Matomo:SiteId.",
        404 => "Check Matomo:TrackerUrl: it must point at Matomo's matomo.php.",
        413 => "Lower Matomo:Sending:BatchSize or raise the web server's request size limit.",
        _ => "Check Matomo:TrackerUrl and the web server in front of Matomo.",
    };
}
