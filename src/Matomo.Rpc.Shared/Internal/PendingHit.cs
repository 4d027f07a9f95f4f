using Matomo.Rpc.Internal.Spool;

namespace Matomo.Rpc.Internal;

/// <summary>A hit encoded once, ready to be sent: taken from the queue (with its <see cref="MatomoHit"/>) or read back from the spool (without).</summary>
internal sealed class PendingHit
{
    public PendingHit(MatomoHit hit, string query, bool isCrash = false)
        : this(hit, query, hit.Timestamp, hit.Action, isCrash)
    {
    }

    private PendingHit(MatomoHit? hit, string query, DateTimeOffset timestamp, string action, bool isCrash)
    {
        Hit = hit;
        Query = query;
        Timestamp = timestamp;
        Action = action;
        IsCrash = isCrash;
    }

    /// <summary>The call's hit; null for a hit read back from the spool (an earlier attempt, maybe an earlier process).</summary>
    public MatomoHit? Hit { get; }

    /// <summary>When the call ended (the hit's <c>cdt</c>): what delivery reads for the 24-hour rule of tokenless clients.</summary>
    public DateTimeOffset Timestamp { get; }

    /// <summary>The action, for log lines about this hit.</summary>
    public string Action { get; }

    /// <summary>The query string, starting with '?' as Matomo's bulk endpoint requires.</summary>
    public string Query { get; }

    /// <summary>
    /// A Crash Analytics hit made from a call's hit: it rides on that call's place in the queue (see
    /// <see cref="HitQueue.Release"/>), so it does not free one when it leaves; in the spool it is sent alone.
    /// </summary>
    public bool IsCrash { get; }

    /// <summary>
    /// A hit read back from the spool. With <see cref="ToSpooled"/>, the one place where a pending hit and the spool's
    /// record meet: the encoded query goes to disk and back as it is, never re-encoded.
    /// </summary>
    public static PendingHit FromSpooled(SpooledHit spooled) => new(null, spooled.Query, spooled.Timestamp, spooled.Action, spooled.Isolated);

    /// <summary>The record the spool keeps for this hit (see <see cref="FromSpooled"/>).</summary>
    public SpooledHit ToSpooled() => new(Query, Timestamp, string.Empty, Action, IsCrash);
}
