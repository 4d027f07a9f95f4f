namespace Matomo.Rpc.SignalR.Internal;

internal static class Limits
{
    /// <summary>Entries kept per static cache; beyond it, values are computed per call instead of growing without bound.</summary>
    public const int CacheSize = 4096;
}
