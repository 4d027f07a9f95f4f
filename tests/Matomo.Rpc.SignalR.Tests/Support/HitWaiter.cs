using Matomo.Rpc.TestSupport;

namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>Waits for hits the Matomo stand-in stored.</summary>
public static class HitWaiter
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>The hits of one client connection (by its <c>urlref</c> tag) with the given action, once there are <paramref name="count"/>.</summary>
    public static async Task<IReadOnlyList<StoredHit>> WaitForHitsAsync(this MatomoStandIn matomo, string tag, string action, int count = 1)
    {
        var deadline = DateTimeOffset.UtcNow + Timeout;
        while (true)
        {
            var hits = Of(matomo, tag, action);
            if (hits.Count >= count)
            {
                return hits;
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException($"Expected {count} hit(s) of '{action}' for {tag} within {Timeout}; stored: {string.Join(" | ", matomo.Hits.Select(h => h.Query))}");
            }

            await Task.Delay(20);
        }
    }

    public static async Task<StoredHit> WaitForHitAsync(this MatomoStandIn matomo, string tag, string action) =>
        (await matomo.WaitForHitsAsync(tag, action, 1))[0];

    public static IReadOnlyList<StoredHit> Of(this MatomoStandIn matomo, string tag, string action) =>
        [.. matomo.Hits.Where(h => h.Parameters.TryGetValue("urlref", out var r) && r == tag && h.Parameters.TryGetValue("action_name", out var a) && a == action)];

    public static IReadOnlyList<StoredHit> Of(this MatomoStandIn matomo, string tag) =>
        [.. matomo.Hits.Where(h => h.Parameters.TryGetValue("urlref", out var r) && r == tag)];
}
