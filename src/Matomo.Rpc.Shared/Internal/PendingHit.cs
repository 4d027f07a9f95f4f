namespace Matomo.Rpc.Internal;

/// <summary>A hit encoded once, ready to be sent.</summary>
internal sealed class PendingHit
{
    public PendingHit(MatomoHit hit, string query, bool isCrash = false)
    {
        Hit = hit;
        Query = query;
        IsCrash = isCrash;
    }

    public MatomoHit Hit { get; }

    /// <summary>When the call ended (the hit's <c>cdt</c>): what delivery reads for the 24-hour rule of tokenless clients.</summary>
    public DateTimeOffset Timestamp => Hit.Timestamp;

    /// <summary>The action, for log lines about this hit.</summary>
    public string Action => Hit.Action;

    /// <summary>The query string, starting with '?' as Matomo's bulk endpoint requires.</summary>
    public string Query { get; }

    /// <summary>
    /// A Crash Analytics hit made from a call's hit: it rides on that call's place in the queue (see
    /// <see cref="HitQueue.Release"/>), so it does not free one when it leaves.
    /// </summary>
    public bool IsCrash { get; }
}
