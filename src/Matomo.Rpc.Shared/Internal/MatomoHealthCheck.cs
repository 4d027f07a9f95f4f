using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Degraded (never unhealthy: tracking must not take the app out of rotation) when the Matomo check found data loss,
/// when sends have been failing for longer than <see cref="MatomoSendingOptions.DegradedAfter"/>, within that time after
/// a hit was dropped, while more than half of the queue's capacity waits to be sent, or while hits wait in the spool
/// and sends fail. Holds no state: the health-check service makes one
/// for every run, so what it reads lives in singletons (<see cref="SendHealth"/>, the metrics, <see cref="TrackingState"/>).
/// </summary>
internal sealed class MatomoHealthCheck : IHealthCheck
{
    private readonly MatomoTracker _tracker;
    private readonly HitQueue _queue;
    private readonly TrackingState _checkState;
    private readonly SendHealth _sendHealth;
    private readonly TimeProvider _time;
    private readonly Spool.HitSpool? _spool;

    public MatomoHealthCheck(MatomoTracker tracker, HitQueue queue, TrackingState checkState, SendHealth sendHealth, TimeProvider time, Spool.HitSpool? spool = null)
    {
        _spool = spool;
        _tracker = tracker;
        _queue = queue;
        _checkState = checkState;
        _sendHealth = sendHealth;
        _time = time;
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Check());

    private HealthCheckResult Check()
    {
        var stats = _tracker.Statistics;
        var sending = _tracker.Options.Sending;
        var now = _time.GetUtcNow();
        var failure = _sendHealth.Failure;
        var lastDrop = _queue.Metrics.LastDropAt;
        var data = new Dictionary<string, object>
        {
            ["queued"] = stats.Queued,
            ["sent"] = stats.Sent,
            ["rejected"] = stats.Rejected,
            ["dropped"] = stats.Dropped,
            ["retried"] = stats.Retried,
            ["queue_length"] = stats.QueueLength,
            ["waiting"] = _queue.Waiting,
            ["queue_capacity"] = sending.QueueCapacity,
            ["sampled_out"] = stats.SampledOut,
        };
        if (_checkState.Capacity is { } over)
        {
            // Calls offer more than Matomo takes (logged once as OfferedExceedsCapacity): both rates and the rate that fits.
            data["offered_hits_per_second"] = over.OfferedPerSecond;
            data["taken_hits_per_second"] = over.TakenPerSecond;
            data["fitting_sample_rate"] = over.FittingSampleRate;
        }

        var spool = _spool?.Statistics ?? default;
        if (spool.Enabled)
        {
            data["spool_files"] = spool.Files;
            data["spool_bytes"] = spool.Bytes;
            data["spool_hits_waiting"] = stats.SpoolWaiting;
            data["spool_hits_spooled"] = stats.Spooled;
            data["spool_hits_replayed"] = stats.Replayed;
            data["spool_hits_inherited"] = stats.SpoolInherited;
            data["spool_hits_dropped"] = spool.HitsDropped;
            data["spool_bad_files"] = spool.BadFiles;
        }

        if (failure is not null)
        {
            data["failing_since"] = failure.Since.ToString("O", CultureInfo.InvariantCulture);
            data["failure"] = failure.Reason;
        }

        if (lastDrop is { } dropped)
        {
            data["last_drop"] = dropped.ToString("O", CultureInfo.InvariantCulture);
        }

        if (_checkState.LastReport is { } report)
        {
            data["matomo_check"] = report.ToString();
            if (report.LosesData)
            {
                var losses = string.Join(" ", report.Findings.Where(f => f.Severity == MatomoCheckSeverity.DataLoss).Select(f => f.Message));
                return HealthCheckResult.Degraded("The Matomo check found data loss: " + losses, data: data);
            }
        }

        // Matomo's brute-force detection: a blocked IP also locks its operators out of Matomo, and a refused token is a
        // failed login until it is fixed; both need someone now, not after DegradedAfter.
        if (_checkState.HostBlocked)
        {
            data["host_blocked"] = true;
            return HealthCheckResult.Degraded(
                $"Matomo's brute-force detection blocks this host's IP: tracking requests with the token are refused and {stats.QueueLength} hits are held and retried. Unblock or allow-list the IP in Matomo (Administration > System > General settings > Login) and fix the failed logins (a wrong Matomo:TokenAuth).", data: data);
        }

        // Only while cip is off: a check that found the token's rights again (run after the token was fixed) turns it back on.
        if (_checkState.TokenRefusedBySender && !_checkState.TokenTrusted)
        {
            data["token_refused"] = true;
            return HealthCheckResult.Degraded(
                "Matomo does not accept Matomo:TokenAuth for the site: hits are sent without callers' IPs (cip). Set Matomo:TokenAuth to a token of a user with write access to the site.", data: data);
        }

        if (failure is not null && spool.Files > 0)
        {
            return HealthCheckResult.Degraded(
                $"Sending to Matomo fails ({failure.Reason}); {stats.SpoolWaiting} hits wait in the spool ({spool.Files} files) and {stats.QueueLength} in memory.", data: data);
        }

        if (failure is not null && now - failure.Since >= sending.DegradedAfter)
        {
            return HealthCheckResult.Degraded(
                $"Sending to Matomo has failed for {Seconds(now - failure.Since)} ({failure.Reason}); {stats.QueueLength} hits are held and retried.", data: data);
        }

        if (lastDrop is { } at && now - at < sending.DegradedAfter)
        {
            return HealthCheckResult.Degraded($"Matomo hits were dropped {Seconds(now - at)} ago ({stats.Dropped} since start).", data: data);
        }

        // Hits waiting, not those being sent: a batch in flight is normal, a backlog is not.
        if (_queue.Waiting > sending.QueueCapacity / 2)
        {
            return HealthCheckResult.Degraded(
                $"{_queue.Waiting} Matomo hits wait to be sent ({stats.QueueLength} of {sending.QueueCapacity} held): Matomo is slow or unreachable.", data: data);
        }

        return failure is null
            ? HealthCheckResult.Healthy("Matomo tracking is sending.", data)
            : HealthCheckResult.Healthy($"Matomo tracking is retrying for {Seconds(now - failure.Since)} ({failure.Reason}).", data);
    }

    private static string Seconds(TimeSpan duration) => string.Create(CultureInfo.InvariantCulture, $"{Math.Max(0, duration.TotalSeconds):0} s");
}
