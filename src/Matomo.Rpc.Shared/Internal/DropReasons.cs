namespace Matomo.Rpc.Internal;

internal static class DropReasons
{
    public const string QueueFull = "queue_full";
    public const string Poisoned = "poisoned";
    public const string Expired = "expired";
    public const string Shutdown = "shutdown";

    /// <summary>
    /// Given up at the shutdown deadline while their request was in flight: Matomo may have stored them (its answer did
    /// not come in time), so a row count in Matomo can exceed sent by these.
    /// </summary>
    public const string ShutdownUnanswered = "shutdown_unanswered";
    public const string Error = "error";
}
