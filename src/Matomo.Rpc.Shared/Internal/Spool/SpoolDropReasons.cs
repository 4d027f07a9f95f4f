namespace Matomo.Rpc.Internal.Spool;

/// <summary>The <c>reason</c> tags of hits the spool drops (counted through the callback given to the store).</summary>
internal static class SpoolDropReasons
{
    /// <summary>Oldest files dropped to stay within <c>Matomo:Spool:MaxBytes</c>, or a batch that did not fit.</summary>
    public const string SpoolFull = "spool_full";

    /// <summary>The hits of a file found corrupt or truncated (moved aside as <c>*.bad</c>), when its header could say how many.</summary>
    public const string SpoolCorrupt = "spool_corrupt";
}
