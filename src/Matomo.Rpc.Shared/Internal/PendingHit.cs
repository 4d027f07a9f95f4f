namespace Matomo.Rpc.Internal;

/// <summary>A hit encoded once, with the way it must be sent.</summary>
internal sealed class PendingHit
{
    public PendingHit(MatomoHit hit, string query, bool isolated = false)
    {
        Hit = hit;
        Query = query;
        Isolated = isolated;
    }

    public MatomoHit Hit { get; }

    /// <summary>The query string, starting with '?' as Matomo's bulk endpoint requires.</summary>
    public string Query { get; }

    /// <summary>Sent alone (Crash Analytics hits), so that Matomo's 500 cannot roll back other hits.</summary>
    public bool Isolated { get; }
}
