using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>All log messages of the core (event ids 1-99). The token never appears in any of them.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Matomo hit (log-only): {Action} -> {Outcome}, {Kind}, {DurationMs} ms, visitor {Visitor}, variables [{Variables}], parameters [{Parameters}]", EventName = "HitLogged")]
    public static partial void HitLogged(ILogger logger, string action, string outcome, string kind, long durationMs, string visitor, string variables, string parameters);

    [LoggerMessage(70, LogLevel.Debug, "Matomo hit query (log-only), exactly as it would be sent: {Query}", EventName = "HitQuery")]
    public static partial void HitQuery(ILogger logger, string query);

    [LoggerMessage(2, LogLevel.Warning, "Dropped {Count} Matomo hits because the send queue (capacity {Capacity}) was full or closed. Raise Matomo:Sending:QueueCapacity or check that Matomo is reachable.", EventName = "HitsDropped")]
    public static partial void HitsDropped(ILogger logger, long count, int capacity);

    [LoggerMessage(3, LogLevel.Debug, "Sending {Count} hits to Matomo failed ({Reason}); retrying in {Delay}. The hits are kept.", EventName = "SendRetrying")]
    public static partial void SendRetrying(ILogger logger, int count, string reason, TimeSpan delay);

    [LoggerMessage(4, LogLevel.Warning, "Matomo rejected {Count} of {Total} hits as invalid; they are counted as rejected. Matomo lists the reasons under Administration > Diagnostics > Tracking Failures.", EventName = "HitsRejected")]
    public static partial void HitsRejected(ILogger logger, int count, int total);

    [LoggerMessage(5, LogLevel.Error, "Matomo refused a request of {Count} hits with HTTP {StatusCode}; the hits are counted as rejected (logged again when the status changes or every few minutes). {Fix}", EventName = "RequestRefused")]
    public static partial void RequestRefused(ILogger logger, int count, int statusCode, string fix);

    [LoggerMessage(6, LogLevel.Warning, "Matomo rolled back every hit of the request (HTTP {StatusCode}) because of one hit; the batch is split to isolate it.", EventName = "BatchRolledBack")]
    public static partial void BatchRolledBack(ILogger logger, int statusCode);

    [LoggerMessage(7, LogLevel.Warning, "Dropped a Matomo hit for '{Action}' that makes Matomo roll back its whole request (HTTP 500); the hits beside it were sent.", EventName = "PoisonedHitDropped")]
    public static partial void PoisonedHitDropped(ILogger logger, string action);

    [LoggerMessage(8, LogLevel.Warning, "Dropped {Count} Matomo hits older than 24 hours: Matomo refuses them without a token (Matomo:TokenAuth).", EventName = "ExpiredHitsDropped")]
    public static partial void ExpiredHitsDropped(ILogger logger, int count);

    [LoggerMessage(9, LogLevel.Warning, "Stopped with {Count} Matomo hits not sent within Matomo:Sending:ShutdownTimeout ({Timeout}); they are dropped.", EventName = "ShutdownDropped")]
    public static partial void ShutdownDropped(ILogger logger, long count, TimeSpan timeout);

    [LoggerMessage(10, LogLevel.Error, "The Matomo sender failed unexpectedly; it goes on.", EventName = "SenderFailed")]
    public static partial void SenderFailed(ILogger logger, Exception exception);

    [LoggerMessage(18, LogLevel.Error, "The Matomo sender's loop failed unexpectedly and stopped: no more hits are sent, and once the queue is full every hit is dropped (counted). Please report this with the exception.", EventName = "SenderLoopFailed")]
    public static partial void SenderLoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(19, LogLevel.Warning, "The host's shutdown was cut short and the Matomo sender had not settled the hits it held {Grace} later (a stalled spool disk?); the host stops without waiting further, and those hits are neither counted nor kept.", EventName = "StopUnsettled")]
    public static partial void StopUnsettled(ILogger logger, TimeSpan grace);

    [LoggerMessage(11, LogLevel.Error, "Completing a Matomo call failed; the hit is lost but the call is not affected.", EventName = "CompleteFailed")]
    public static partial void CompleteFailed(ILogger logger, Exception exception);

    [LoggerMessage(12, LogLevel.Warning, "A call set more than {Limit} Matomo {What}; the extra ones are ignored (logged once).", EventName = "PerCallLimitReached")]
    public static partial void PerCallLimitReached(ILogger logger, string what, int limit);

    [LoggerMessage(13, LogLevel.Warning, "A call had more custom variables than the {Slots} slots of Matomo:CustomVariableSlots; the extra ones are not sent (logged once).", EventName = "CustomVariableSlotsExceeded")]
    public static partial void CustomVariableSlotsExceeded(ILogger logger, int slots);

    [LoggerMessage(14, LogLevel.Warning, "The pattern '{Pattern}' timed out on an input and was treated as not matching (logged once).", EventName = "RegexTimedOut")]
    public static partial void RegexTimedOut(ILogger logger, string pattern);

    [LoggerMessage(15, LogLevel.Warning, "Matomo answered {Count} hits with {Answer}; {Detail}", EventName = "UnexpectedAnswer")]
    public static partial void UnexpectedAnswer(ILogger logger, int count, string answer, string detail);

    [LoggerMessage(16, LogLevel.Information, "Matomo tracking started: sending to {Endpoint} for site {SiteId}{Mode}.", EventName = "Started")]
    public static partial void Started(ILogger logger, string endpoint, int siteId, string mode);

    [LoggerMessage(17, LogLevel.Information, "Matomo takes hits again, after failing for {Duration} ({Failures} failed requests).", EventName = "SendRecovered")]
    public static partial void SendRecovered(ILogger logger, TimeSpan duration, long failures);

    [LoggerMessage(23, LogLevel.Warning, "Sending to Matomo fails: {Reason}. Hits are kept and retried while the queue has room; this is logged again every {Every} while it lasts, and once when Matomo takes hits again.", EventName = "SendFailing")]
    public static partial void SendFailing(ILogger logger, string reason, TimeSpan every);

    [LoggerMessage(24, LogLevel.Warning, "Sending to Matomo has failed for {Duration}: {Reason}. {Failures} requests failed; {Held} hits held, {Dropped} dropped since it began failing.", EventName = "SendStillFailing")]
    public static partial void SendStillFailing(ILogger logger, TimeSpan duration, string reason, long failures, int held, long dropped);

    [LoggerMessage(65, LogLevel.Information, "Matomo queues hits (the QueuedTracking plugin): it answers a bulk request without a count per hit, so its hits are counted as sent (and as accepted without Matomo's count) once Matomo takes the request. They reach the reports when Matomo's queue is processed, and a hit Matomo refuses then is not reported: it drops itself and every later hit of its request, so every hit is checked against Matomo's rules before it is sent.", EventName = "MatomoQueuesHits")]
    public static partial void MatomoQueuesHits(ILogger logger);

    [LoggerMessage(66, LogLevel.Warning, "A Matomo hit for '{Action}' was not sent: {Reason} Matomo queues hits (QueuedTracking) and would drop it and every later hit of its request without a word; it is counted as rejected (logged once).", EventName = "QueuedHitRefused")]
    public static partial void QueuedHitRefused(ILogger logger, string action, string reason);

    [LoggerMessage(20, LogLevel.Warning, "Matomo check: {Code}: {Message}", EventName = "CheckDataLoss")]
    public static partial void CheckDataLoss(ILogger logger, string code, string message);

    [LoggerMessage(21, LogLevel.Information, "Matomo check: {Code}: {Message}", EventName = "CheckFine")]
    public static partial void CheckFine(ILogger logger, string code, string message);

    [LoggerMessage(22, LogLevel.Error, "The Matomo check failed unexpectedly; tracking goes on.", EventName = "CheckFailed")]
    public static partial void CheckFailed(ILogger logger, Exception exception);

    [LoggerMessage(60, LogLevel.Warning, "Calls offered Matomo {OfferedRate} hits/s over the last {Window}, but Matomo took {TakenRate} hits/s: the rest waits in the queue or is dropped, an accident of timing rather than a known fraction. A Matomo:Sampling:Rate of about {FittingRate} (now {Rate}) would fit what Matomo takes; or give Matomo more capacity (QueuedTracking, more tracker nodes, Matomo:Sending:MaxConcurrentRequests).", EventName = "OfferedExceedsCapacity")]
    public static partial void OfferedExceedsCapacity(ILogger logger, double offeredRate, TimeSpan window, double takenRate, double fittingRate, double rate);

    [LoggerMessage(90, LogLevel.Warning, "Matomo:UserId:Mode is Pseudonym but Matomo:VisitorIdSalt is not set: user id pseudonyms come from a random key of this process, so one user gets another uid after a restart and on each replica. Set Matomo:VisitorIdSalt to the same secret on every replica.", EventName = "PseudonymWithoutSalt")]
    public static partial void PseudonymWithoutSalt(ILogger logger);

    [LoggerMessage(25, LogLevel.Error, "Matomo refused the hits carrying a caller's IP (cip), and took them without it: it does not accept Matomo:TokenAuth for site {SiteId}, and it counts each such request as a failed login of this host's IP (after 20 within an hour it blocks the IP: every tracking request with a token, and every Reporting API call and login from that IP, is refused). cip is no longer sent; {Resent} hits refused for it only are sent again without it, so hits are kept without callers' IPs. Fix: set Matomo:TokenAuth to a token of a user with write access to site {SiteId} (Administration > Personal > Security > Auth tokens), or remove it.", EventName = "TokenRefused")]
    public static partial void TokenRefused(ILogger logger, int siteId, int resent);

    [LoggerMessage(26, LogLevel.Error, "Matomo's brute-force detection blocks this host's IP: it answers every tracking request that carries a token with HTTP 500 and stores nothing. Hits are kept and retried (with backoff, while the queue has room) until the block is lifted. Fix: in Matomo, unblock the IP (Administration > System > General settings > Login, or the API method Login.unblockBruteForceIPs) or add it to the allow-list (Login setting 'whitelisteBruteForceIps'), and fix what causes the failed logins (a wrong Matomo:TokenAuth here or on another host behind the same IP).", EventName = "HostBlocked")]
    public static partial void HostBlocked(ILogger logger);

    [LoggerMessage(27, LogLevel.Information, "Matomo no longer blocks this host's IP: hits are sent again.", EventName = "HostUnblocked")]
    public static partial void HostUnblocked(ILogger logger);
}
