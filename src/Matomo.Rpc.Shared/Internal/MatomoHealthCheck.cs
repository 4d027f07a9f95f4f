using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Degraded (never unhealthy: tracking must not take the app out of rotation) when the Matomo check found data loss,
/// while hits are being dropped, or while the queue is more than half full.
/// </summary>
internal sealed class MatomoHealthCheck : IHealthCheck
{
    private readonly MatomoTracker _tracker;
    private readonly TrackingState _state;
    private long _lastDropped;

    public MatomoHealthCheck(MatomoTracker tracker, TrackingState state)
    {
        _tracker = tracker;
        _state = state;
    }

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
            ["sampled_out"] = stats.SampledOut,
        };
        if (_state.Capacity is { } over)
        {
            // Calls offer more than Matomo takes (logged once as OfferedExceedsCapacity): both rates and the rate that fits.
            data["offered_hits_per_second"] = over.OfferedPerSecond;
            data["taken_hits_per_second"] = over.TakenPerSecond;
            data["fitting_sample_rate"] = over.FittingSampleRate;
        }

        if (_state.LastReport is { } report)
        {
            data["matomo_check"] = report.ToString();
            if (report.LosesData)
            {
                var losses = string.Join(" ", report.Findings.Where(f => f.Severity == MatomoCheckSeverity.DataLoss).Select(f => f.Message));
                return Task.FromResult(HealthCheckResult.Degraded("The Matomo check found data loss: " + losses, data: data));
            }
        }

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
