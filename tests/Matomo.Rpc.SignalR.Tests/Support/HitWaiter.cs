using Matomo.Rpc.TestSupport;

namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>Waits for hits the Matomo stand-in stored.</summary>
public static class HitWaiter
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>The hits of one client connection (by its <c>urlref</c> tag) with the given action, once there are <paramref name="count"/>.</summary>
    public static async Task<IReadOnlyList<StoredHit>> WaitForHitsAsync(this MatomoStandIn matomo, string tag, string action, int count = 1)
    {
        await matomo.WaitForHitsAsync(hits => hits.Count(h => Is(h, tag, action)) >= count, Timeout, $"{count} hit(s) of '{action}' for {tag}");
        return Of(matomo, tag, action);
    }

    public static async Task<StoredHit> WaitForHitAsync(this MatomoStandIn matomo, string tag, string action) =>
        (await matomo.WaitForHitsAsync(tag, action, 1))[0];

    public static IReadOnlyList<StoredHit> Of(this MatomoStandIn matomo, string tag, string action) =>
        [.. matomo.Hits.Where(h => Is(h, tag, action))];

    public static IReadOnlyList<StoredHit> Of(this MatomoStandIn matomo, string tag) =>
        [.. matomo.Hits.Where(h => h.Parameters.TryGetValue("urlref", out var r) && r == tag)];

    private static bool Is(StoredHit hit, string tag, string action) =>
        hit.Parameters.TryGetValue("urlref", out var r) && r == tag && hit.Parameters.TryGetValue("action_name", out var a) && a == action;
}
