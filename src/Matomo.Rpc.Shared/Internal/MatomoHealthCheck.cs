using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Degraded (never unhealthy: tracking must not take the app out of rotation) while hits are being dropped or the
/// queue is more than half full.
/// </summary>
internal sealed class MatomoHealthCheck : IHealthCheck
{
    private readonly MatomoTracker _tracker;
    private long _lastDropped;

    public MatomoHealthCheck(MatomoTracker tracker) => _tracker = tracker;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var stats = _tracker.Statistics;
        var capacity = _tracker.Options.Sending.QueueCapacity;
        var data = new Dictionary<string, object>
        {
            ["queued"] = stats.Queued,
            ["sent"] = stats.Sent,
            ["rejected"] = stats.Rejected,
            ["dropped"] = stats.Dropped,
            ["retried"] = stats.Retried,
            ["queue_length"] = stats.QueueLength,
            ["queue_capacity"] = capacity,
        };
        var droppedSinceLast = stats.Dropped - Interlocked.Exchange(ref _lastDropped, stats.Dropped);
        if (droppedSinceLast > 0)
        {
            return Task.FromResult(HealthCheckResult.Degraded($"{droppedSinceLast} Matomo hits were dropped since the last check.", data: data));
        }

        if (stats.QueueLength > capacity / 2)
        {
            return Task.FromResult(HealthCheckResult.Degraded($"The Matomo send queue is {stats.QueueLength} of {capacity}: Matomo is slow or unreachable.", data: data));
        }

        return Task.FromResult(HealthCheckResult.Healthy("Matomo tracking is sending.", data));
    }
}
