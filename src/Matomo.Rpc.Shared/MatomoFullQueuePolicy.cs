namespace Matomo.Rpc;

/// <summary>What happens to a new hit when the send queue is full. Either way the call is never blocked and the drop is counted.</summary>
public enum MatomoFullQueuePolicy
{
    /// <summary>The new hit is dropped; the queued (older) hits are kept. The default.</summary>
    DropNewest = 0,

    /// <summary>The oldest queued hit is dropped to make room for the new one.</summary>
    DropOldest = 1,
}
