using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Delivers batches: sends what is left of one, reads Matomo's answer, splits a batch Matomo rolled back to isolate the
/// hit that breaks it, drops hits Matomo would refuse as too old, and counts every hit exactly once (sent, rejected or
/// dropped) and frees its place in the queue. It never waits between attempts: on a failure worth retrying it returns
/// <see cref="DeliveryResult.RetryLater"/> and the sender backs off and hands the same batch back.
/// </summary>
internal sealed class HitDelivery
{
    private const int RollbackRetries = 2;

    // A batch rolled back down to a single hit with nothing of it answered looks like Matomo failing (database down,
    // which also answers 500), not like a poisoned hit: keep it through this many more backoffs before dropping it.
    private const int OutageRetries = 8;
    private static readonly TimeSpan TokenlessMaxAge = TimeSpan.FromHours(24) - TimeSpan.FromMinutes(1);

    private const string BlockedReason = "Matomo's brute-force detection blocks this host's IP (HTTP 500 to every tracking request with a token)";

    private readonly IHitWriter _writer;
    private readonly HitEncoder _encoder;
    private readonly HitQueue _queue;
    private readonly MatomoOptions _options;
    private readonly TrackingState _checkState;
    private readonly SendHealth _health;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly bool _withToken;
    private readonly HitSpool? _spool;
    private int _lastRefusal;
    private int _queuedRefusalLogged;

    public HitDelivery(IHitWriter writer, HitEncoder encoder, HitQueue queue, MatomoOptions options, TrackingState checkState, SendHealth health, TimeProvider time, ILogger logger, HitSpool? spool = null)
    {
        _spool = spool;
        _writer = writer;
        _encoder = encoder;
        _queue = queue;
        _options = options;
        _checkState = checkState;
        _health = health;
        _time = time;
        _logger = logger;
        _withToken = !string.IsNullOrEmpty(options.TokenAuth);
        Limiter = new ConcurrencyLimiter(options.Sending.MaxConcurrentRequests, options.Sending.HttpTimeout / 2, time);
        Sizer = new BatchSizer(options.Sending.BatchSize, options.Sending.MaxBatchSize, options.Sending.HttpTimeout, time);
        queue.Metrics.Observe(Limiter);
    }

    /// <summary>How many requests may be in flight; fed with every answer (see <see cref="ConcurrencyLimiter"/>).</summary>
    public ConcurrencyLimiter Limiter { get; }

    /// <summary>How many hits a live batch may take; fed with every answer (see <see cref="BatchSizer"/>).</summary>
    public BatchSizer Sizer { get; }

    /// <summary>
    /// Most hits the next live batch may take: the <see cref="Sizer"/>'s size, but <c>BatchSize</c> once Matomo was seen
    /// to queue hits (QueuedTracking), where a hit its workers refuse drops the rest of its request.
    /// </summary>
    public int BatchSize => _checkState.MatomoQueues ? _options.Sending.BatchSize : Sizer.Size;

    /// <summary>Where hits go, for the start-up log line; never contains the token.</summary>
    public string Describe => _writer.Describe;

    private MatomoMetrics Metrics => _queue.Metrics;

    /// <summary>
    /// Encodes a hit taken from the queue into <paramref name="buffer"/> (its batch's) and <paramref name="hits"/>, and
    /// its Crash Analytics hit into <paramref name="crashes"/> when crashes are tracked. A hit that cannot be encoded is
    /// counted as rejected.
    /// </summary>
    public void Prepare(MatomoHit hit, HitBuffer buffer, List<PendingHit> hits, List<PendingHit> crashes)
    {
        var offset = buffer.Written;
        int length;
        try
        {
            length = _encoder.Encode(hit, buffer);
        }
#pragma warning disable CA1031 // one hit that cannot be encoded must not stop the others
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.SenderFailed(_logger, ex);
            Metrics.Rejected(1);
            _queue.Release(1);
            return;
        }

        hits.Add(new PendingHit(hit, buffer, offset, length));
        if (_options.TrackCrashes && hit.Outcome.IsError && hit.ErrorType is not null)
        {
            try
            {
                offset = buffer.Written;
                length = _encoder.EncodeCrash(hit, buffer);
                crashes.Add(new PendingHit(hit, buffer, offset, length, isCrash: true));

                // A hit of its own that will be sent, rejected, dropped or spooled: counted as queued too, so the totals add up.
                Metrics.Queued();
            }
#pragma warning disable CA1031 // the crash hit is extra: the call's own hit is already in the batch
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.SenderFailed(_logger, ex);
            }
        }
    }

    /// <summary>
    /// Encodes a hit taken from the queue straight into spool records (the spill path: no string or object per hit), and
    /// its Crash Analytics hit after it when crashes are tracked, as <see cref="Prepare"/> does for a batch. A hit that
    /// cannot be encoded is counted as rejected.
    /// </summary>
    public void PrepareSpooled(MatomoHit hit, SpoolRecords records)
    {
        var start = records.Begin(hit.Timestamp, hit.Action, isolated: false);
        try
        {
            _encoder.Encode(hit, records.Buffer);
            records.End(start);
        }
#pragma warning disable CA1031 // one hit that cannot be encoded must not stop the others
        catch (Exception ex)
#pragma warning restore CA1031
        {
            records.Cancel(start);
            Log.SenderFailed(_logger, ex);
            Metrics.Rejected(1);
            _queue.Release(1);
            return;
        }

        if (_options.TrackCrashes && hit.Outcome.IsError && hit.ErrorType is not null)
        {
            start = records.Begin(hit.Timestamp, hit.Action, isolated: true);
            try
            {
                _encoder.EncodeCrash(hit, records.Buffer);
                records.End(start);

                // A hit of its own that will be sent, rejected, dropped or spooled: counted as queued too, so the totals add up.
                Metrics.Queued();
            }
#pragma warning disable CA1031 // the crash hit is extra: the call's own hit is already in the records
            catch (Exception ex)
#pragma warning restore CA1031
            {
                records.Cancel(start);
                Log.SenderFailed(_logger, ex);
            }
        }
    }

    /// <summary>
    /// Sends what is left of <paramref name="batch"/> until every hit is accounted for or a failure is worth a retry.
    /// Throws <see cref="OperationCanceledException"/> only when <paramref name="abort"/> is cancelled; then
    /// <see cref="Abandon"/> must count what is left.
    /// </summary>
    public async Task<DeliveryResult> DeliverAsync(Batch batch, CancellationToken abort)
    {
        while (batch.Next is { } segment)
        {
            abort.ThrowIfCancellationRequested();
            DropExpired(batch, segment);
            StripCip(segment);
            if (_checkState.MatomoQueues)
            {
                RejectRefusable(batch, segment);
            }

            if (segment.Count == 0)
            {
                batch.Pop();
                continue;
            }

            SendResult result;
            try
            {
                var full = segment.Count >= FullAt(batch);
                result = await WriteAsync(segment, full, full && batch.Backlogged, abort).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (abort.IsCancellationRequested)
            {
                batch.CutInFlight = segment.Count; // sent, not answered: Matomo may have stored them
                throw;
            }

            if (result.Status is SendStatus.Answered or SendStatus.Queued)
            {
                Unblocked();
            }

            if (result.Status == SendStatus.RolledBack && MayBeBlocked(result) && !batch.NotBlocked)
            {
                // Matomo's answer to a blocked host looks like a rollback (500, nothing counted); a rollback cannot be
                // split away when it is the block, and each hit would be dropped as poisoned. Asked once per batch.
                if (await IsHostBlockedAsync(abort).ConfigureAwait(false))
                {
                    return HeldWhileBlocked();
                }

                batch.NotBlocked = true;
            }

            if (result.Status == SendStatus.Answered && result.Invalid > 0 && RefusedForToken(segment, result))
            {
                // Matomo refused exactly the hits that need the token (cip, or a cdt older than 24 h) and took the rest:
                // it does not accept the token, and each such request is a failed login of this host. Never again.
                _checkState.TokenTrusted = false;
                batch.AnyAnswered = true;
                batch.FailedAttempts = 0;
                if (result.Tracked == 0)
                {
                    // Nothing of it was stored: sent again at once without cip (an old cdt is dropped as expired). Said
                    // once the hits go through without it: if they do not, the token was not what Matomo refused.
                    batch.ResentForToken = segment.Count;
                    continue;
                }

                // Others were stored beside them, and Matomo does not say which were refused: those are rejected.
                if (_checkState.SetTokenRefusedBySender())
                {
                    Log.TokenRefused(_logger, _options.SiteId, 0);
                }
            }
            else if (result.QueueRefused && _withToken && segment.Exists(static h => h.HasCip))
            {
                // QueuedTracking checks cip when it takes a request: it refused the whole request for the token (a
                // failed login of this host) and queued nothing. Sent again at once without cip, as above.
                _checkState.TokenTrusted = false;
                batch.ResentForToken = segment.Count;
                continue;
            }
            else if (result.Status is SendStatus.Answered or SendStatus.Queued && batch.ResentForToken > 0)
            {
                if ((result.Tracked > 0 || result.Status == SendStatus.Queued) && _checkState.SetTokenRefusedBySender())
                {
                    Log.TokenRefused(_logger, _options.SiteId, batch.ResentForToken);
                }

                batch.ResentForToken = 0;
            }

            switch (result.Status)
            {
                case SendStatus.Answered:
                    batch.Pop();
                    batch.AnyAnswered = true;
                    batch.FailedAttempts = 0;
                    Account(batch, result, segment);
                    break;

                case SendStatus.Queued:
                    batch.Pop();
                    batch.AnyAnswered = true;
                    batch.FailedAttempts = 0;
                    AccountQueued(batch, segment);
                    break;

                case SendStatus.Refused when result.StatusCode == 413 && segment.Count > _options.Sending.BatchSize:
                    // Too large for the web server in front of Matomo, grown beyond BatchSize: in halves (the sizer shrank).
                    batch.Split(segment);
                    break;

                case SendStatus.Refused:
                    batch.Pop();
                    Count(batch, segment, rejected: segment.Count);
                    var logged = _health.Failed(result.Reason ?? "HTTP " + result.StatusCode);
                    var changed = Interlocked.Exchange(ref _lastRefusal, result.StatusCode) != result.StatusCode;
                    if (logged || changed)
                    {
                        Log.RequestRefused(_logger, segment.Count, result.StatusCode, FixFor(result.StatusCode));
                    }

                    break;

                case SendStatus.Transient:
                    _health.Failed(result.Reason ?? "transient failure");
                    return DeliveryResult.RetryLater(result.Reason ?? "transient failure", result.RetryAfter);

                case SendStatus.RolledBack when !batch.AnyAnswered && batch.RollbackRetries < RollbackRetries:
                    // Until some part of the batch goes through, a rollback may be Matomo's own trouble (database down).
                    batch.RollbackRetries++;
                    _health.Failed(result.Reason ?? "rolled back");
                    return DeliveryResult.RetryLater(result.Reason ?? "rolled back");

                case SendStatus.RolledBack when segment.Count == 1 && !batch.AnyAnswered && batch.OutageRetries < OutageRetries:
                    batch.OutageRetries++;
                    _health.Failed(result.Reason ?? "rolled back");
                    return DeliveryResult.RetryLater(result.Reason ?? "rolled back");

                case SendStatus.RolledBack when segment.Count == 1:
                    if (batch.NotBlocked && MayBeBlocked(result) && await IsHostBlockedAsync(abort).ConfigureAwait(false))
                    {
                        // Matomo began to block this host after the batch's first rollback was found not to be the block:
                        // the hit is not poisoned. Asked again only before a hit would be dropped.
                        return HeldWhileBlocked();
                    }

                    batch.Pop();
                    Count(batch, segment, dropped: 1, reason: DropReasons.Poisoned);
                    Log.PoisonedHitDropped(_logger, segment[0].Action);
                    break;

                case SendStatus.RolledBack:
                    if (!batch.SplitLogged)
                    {
                        batch.SplitLogged = true;
                        Log.BatchRolledBack(_logger, result.StatusCode);
                    }

                    batch.Split(segment);
                    break;
            }
        }

        return DeliveryResult.Delivered;
    }

    /// <summary>
    /// Gives up delivering what is left of <paramref name="batch"/> (shutdown deadline, or a fault in the sender). With a
    /// spool the hits are kept on disk (a replayed file keeps just the hits not accounted for); without one, or when it
    /// cannot take them, they are counted as dropped for <paramref name="reason"/>. Returns how many were dropped. This is
    /// the one place hits that left the queue are given up for lack of a Matomo that takes them.
    /// </summary>
    public int Abandon(Batch batch, string reason)
    {
        var rest = batch.TakeRest();
        if (rest.Count == 0)
        {
            return 0;
        }

        if (batch.FromSpool is { } file && _spool is not null)
        {
            _spool.GiveBack(file, rest);
            return 0;
        }

        var dropped = Keep(rest, batch);
        if (reason == DropReasons.Shutdown && dropped.Count == rest.Count && Math.Min(batch.CutInFlight, dropped.Count) is > 0 and var cut)
        {
            // The cut request's hits first (the rest begins with them): told apart, as Matomo may have stored them.
            var unanswered = dropped.GetRange(0, cut);
            Count(batch, unanswered, dropped: cut, reason: DropReasons.ShutdownUnanswered);
            dropped = dropped.GetRange(cut, dropped.Count - cut);
            if (dropped.Count > 0)
            {
                Count(batch, dropped, dropped: dropped.Count, reason: reason);
            }

            return cut + dropped.Count;
        }

        Count(batch, dropped, dropped: dropped.Count, reason: reason);
        return dropped.Count;
    }

    /// <summary>
    /// Moves hits taken from the queue (encoded by <see cref="Prepare"/>, oldest first) to the spool. Their places in the
    /// queue are freed before the files are flushed to disk, so that calls keep room while the disk is slow; meanwhile
    /// the hits count as waiting in the spool (so at most one more queue's worth of hits is in memory). Returns the hits
    /// the spool could not take because it is off or unusable: the caller still owns them, with their places. Hits over
    /// <c>Matomo:Spool:MaxBytes</c> are counted as dropped (<c>spool_full</c>) by the spool.
    /// </summary>
    public List<PendingHit> Keep(List<PendingHit> hits, Batch? batch = null)
    {
        if (_spool is not { Active: true } || hits.Count == 0)
        {
            return hits;
        }

        var places = 0;
        foreach (var hit in hits)
        {
            places += hit.IsCrash ? 0 : 1;
        }

        _queue.Release(places);
        var notKept = _spool.Keep(hits, out var full);
        batch?.Count(0, 0, full);
        if (notKept.Count > 0)
        {
            _queue.Hold(notKept.Count(static h => !h.IsCrash));
        }

        return notKept;
    }

    /// <summary>
    /// Moves hits encoded by <see cref="PrepareSpooled"/> (oldest first) to the spool, as <see cref="Keep(List{PendingHit}, Batch?)"/>
    /// does, and disposes <paramref name="records"/>. Returns, as a batch that owns their bytes, the hits the spool could
    /// not take because it is off or turned unusable: the caller delivers them as without a spool (they hold their places
    /// in the queue again). Null when the spool took every hit.
    /// </summary>
    public Batch? Keep(SpoolRecords records)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            records.Dispose();
            return null;
        }

        var kept = 0;
        if (_spool is { Active: true })
        {
            _queue.Release(records.Places);
            kept = _spool.Keep(records, out _);
            _queue.Hold(records.PlacesFrom(kept));
        }

        if (kept == records.Count)
        {
            records.Dispose();
            return null;
        }

        List<PendingHit> hits = new(records.Count - kept), crashes = [];
        records.ToPendingHits(kept, hits, crashes);
        return new Batch(hits, crashes, buffer: records.TakeBuffer());
    }

    // A request of this many of the batch's hits is full: all a batch taken full took; for a spooled file's, BatchSize.
    private int FullAt(Batch batch) => batch.FullAt ?? _options.Sending.BatchSize;

    // full: the request carries a full batch (see Batch.FullAt); backlogged: more hits waited (see Batch.Backlogged).
    private async Task<SendResult> WriteAsync(List<PendingHit> segment, bool full, bool backlogged, CancellationToken abort)
    {
        var started = _time.GetTimestamp();
        SendResult? result = null;
        try
        {
            result = await _writer.WriteAsync(segment, abort).ConfigureAwait(false);
            return result.Value;
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // any other failure on the way (e.g. a handler the app added throws its own exception) is worth a retry
        catch (Exception ex)
#pragma warning restore CA1031
        {
            result = new SendResult(SendStatus.Transient, Reason: ex.GetType().Name + ": " + ex.Message);
            return result.Value;
        }
        finally
        {
            var elapsed = _time.GetElapsedTime(started);
            Metrics.Request(segment.Count, elapsed);
            if (result is { } answered)
            {
                Inform(answered, started, elapsed, segment.Count, full, backlogged);
            }
        }
    }

    /// <summary>Tells the limiter and the batch sizer what the answer says about Matomo's capacity.</summary>
    private void Inform(SendResult result, long started, TimeSpan elapsed, int count, bool full, bool backlogged)
    {
        switch (result.Status)
        {
            case SendStatus.Answered:
                Limiter.Answered(started, elapsed, count, full);
                Sizer.Answered(started, elapsed, count, backlogged);
                break;
            case SendStatus.Queued:
                // QueuedTracking: batches keep BatchSize (see BatchSize), so its fast answers do not grow them.
                Limiter.Answered(started, elapsed, count, full);
                break;
            case SendStatus.Transient:
                // No answer, a timeout, Matomo (or its proxy, or its queue) saying it cannot take more now, or failing.
                Limiter.Overloaded(started);
                Sizer.Failed(started);
                break;
            case SendStatus.Refused when elapsed > _options.Sending.HttpTimeout / 2:
                Limiter.Answered(started, elapsed, count, full: false);
                Sizer.Failed(started);
                break;
            case SendStatus.Refused or SendStatus.RolledBack:
                // A rollback splits the batch, a refusal (413: too large for the web server) may be its size: smaller.
                Sizer.Failed(started);
                break;
        }
    }

    /// <summary>
    /// Whether Matomo's answer refused exactly the hits that need the token: a token is sent, some hits carry <c>cip</c>
    /// or a <c>cdt</c> older than 24 hours, as many are invalid, and every other hit was tracked. A hit refused for
    /// another reason (an unknown site, a bad visitor id) does not fit: then the site would refuse the others too. Also
    /// when the token is no longer trusted: a request sent with <c>cip</c> before that was known (several may be in
    /// flight) is answered the same way, and its hits are sent again too.
    /// </summary>
    private bool RefusedForToken(List<PendingHit> segment, SendResult result)
    {
        if (!_withToken)
        {
            return false;
        }

        var cutoff = _time.GetUtcNow() - TokenlessMaxAge;
        var needing = 0;
        foreach (var hit in segment)
        {
            if (hit.Timestamp < cutoff || hit.HasCip)
            {
                needing++;
            }
        }

        return needing > 0 && result.Invalid == needing && result.Tracked == segment.Count - needing;
    }

    /// <summary>
    /// Without a token Matomo accepts, <c>cip</c> must not be sent: Matomo would refuse the hit and count the request as a
    /// failed login of this host. Hits encoded before that was known (in flight, or read back from the spool) lose it here.
    /// </summary>
    private void StripCip(List<PendingHit> segment)
    {
        if (_withToken && _checkState.TokenTrusted)
        {
            return;
        }

        for (var i = 0; i < segment.Count; i++)
        {
            if (segment[i].HasCip)
            {
                segment[i] = segment[i].WithoutCip();
            }
        }
    }

    /// <summary>A 500 that counts nothing, sent with a token: a rollback, or Matomo's answer to a host it blocks.</summary>
    private bool MayBeBlocked(SendResult result) => _withToken && result.Tracked == 0 && result.Invalid == 0;

    private async Task<bool> IsHostBlockedAsync(CancellationToken abort)
    {
        try
        {
            return await _writer.IsHostBlockedAsync(abort).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // the question is extra: any failure means "not known to be blocked"
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }

    private DeliveryResult HeldWhileBlocked()
    {
        if (_checkState.SetHostBlocked(true))
        {
            Log.HostBlocked(_logger);
        }

        _health.Failed(BlockedReason);
        return DeliveryResult.RetryLater(BlockedReason);
    }

    private void Unblocked()
    {
        if (_checkState.HostBlocked && _checkState.SetHostBlocked(false))
        {
            Log.HostUnblocked(_logger);
        }
    }

    private void AccountQueued(Batch batch, List<PendingHit> segment)
    {
        if (_checkState.SetMatomoQueues())
        {
            Log.MatomoQueuesHits(_logger);
        }

        Metrics.AcceptedWithoutCount(segment.Count);
        Count(batch, segment, sent: segment.Count);
        _health.Succeeded();
    }

    /// <summary>
    /// Matomo with QueuedTracking checks nothing when it takes a request, and a hit it refuses later drops itself and
    /// every later hit of its request: such a hit is counted as rejected here instead of sent.
    /// </summary>
    private void RejectRefusable(Batch batch, List<PendingHit> segment)
    {
        var trusted = _withToken && _checkState.TokenTrusted;
        List<PendingHit>? refused = null;
        foreach (var hit in segment)
        {
            if (ParameterRules.CheckQuery(hit.Query, trusted) is { } reason)
            {
                (refused ??= []).Add(hit);
                if (Interlocked.Exchange(ref _queuedRefusalLogged, 1) == 0)
                {
                    Log.QueuedHitRefused(_logger, hit.Action, reason);
                }
            }
        }

        if (refused is not null)
        {
            segment.RemoveAll(refused.Contains);
            Count(batch, refused, rejected: refused.Count);
        }
    }

    private void Account(Batch batch, SendResult result, List<PendingHit> segment)
    {
        var count = segment.Count;
        var tracked = Math.Clamp(result.Tracked, 0, count);
        var invalid = Math.Clamp(result.Invalid, 0, count - tracked);
        var unaccounted = count - tracked - invalid;
        Count(batch, segment, sent: tracked, rejected: invalid + unaccounted);
        if (unaccounted == count)
        {
            // Not Matomo's bulk answer at all (a proxy's page, a wrong URL): sending does not work.
            _health.Failed(result.Reason ?? "an answer that counts none of the hits");
        }
        else
        {
            _health.Succeeded();
        }

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

    private void DropExpired(Batch batch, List<PendingHit> segment)
    {
        if (_withToken && _checkState.TokenTrusted)
        {
            return;
        }

        var cutoff = _time.GetUtcNow() - TokenlessMaxAge;
        foreach (var hit in segment)
        {
            if (hit.Timestamp < cutoff)
            {
                // Rare: no list and no closure per batch unless a hit did expire.
                DropExpired(batch, segment, cutoff);
                return;
            }
        }
    }

    private void DropExpired(Batch batch, List<PendingHit> segment, DateTimeOffset cutoff)
    {
        var expired = segment.FindAll(h => h.Timestamp < cutoff);
        segment.RemoveAll(h => h.Timestamp < cutoff);
        Count(batch, expired, dropped: expired.Count, reason: DropReasons.Expired);
        Log.ExpiredHitsDropped(_logger, expired.Count);
    }

    /// <summary>The one place hits are counted; each hit passes here once, and frees its place in the queue (or in its spool file).</summary>
    private void Count(Batch batch, List<PendingHit> hits, int sent = 0, int rejected = 0, int dropped = 0, string reason = DropReasons.Error)
    {
        Metrics.Sent(sent);
        Metrics.Rejected(rejected);
        Metrics.Dropped(dropped, reason);
        batch.Count(sent, rejected, dropped);
        if (batch.FromSpool is { } file)
        {
            _spool?.Accounted(file, hits.Count);
        }
        else
        {
            _queue.Release(hits.Count(static h => !h.IsCrash));
        }
    }

    private static string FixFor(int statusCode) => statusCode switch
    {
        400 => "Matomo did not take the body as a bulk request (a bad hit inside one would be answered 200 and counted as invalid): check that Matomo:TrackerUrl is Matomo's matomo.php and that no proxy or firewall in front of Matomo blocks or rewrites JSON POST bodies.",
        401 or 403 => "Check Matomo:TokenAuth: the token must belong to a user with write access to Matomo:SiteId.",
        404 => "Check Matomo:TrackerUrl: it must point at Matomo's matomo.php.",
        413 => "Lower Matomo:Sending:BatchSize (and MaxBatchSize) or raise the web server's request size limit.",
        _ => "Check Matomo:TrackerUrl and the web server in front of Matomo.",
    };
}
