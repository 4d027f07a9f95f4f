namespace Matomo.Rpc.Internal;

internal static class DropReasons
{
    public const string QueueFull = "queue_full";
    public const string Poisoned = "poisoned";
    public const string Expired = "expired";
    public const string Shutdown = "shutdown";
    public const string Error = "error";
}
