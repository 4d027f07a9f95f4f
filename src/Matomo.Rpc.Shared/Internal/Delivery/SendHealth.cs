using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Whether sending to Matomo works, kept for the life of the app (a singleton: the health check that reads it is made
/// again for every run). Logs a failing Matomo once per change: when sends begin to fail, every few minutes while they
/// keep failing (with counts), and when one succeeds again.
/// </summary>
internal sealed class SendHealth
{
    /// <summary>How often a Matomo that keeps failing is logged again.</summary>
    public static readonly TimeSpan StillFailingEvery = TimeSpan.FromMinutes(5);

    private readonly Lock _gate = new();
    private readonly HitQueue _queue;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile bool _failing;
    private DateTimeOffset _failingSince;
    private DateTimeOffset _lastLogged;
    private string _reason = string.Empty;
    private long _failures;
    private long _droppedBefore;

    public SendHealth(HitQueue queue, TimeProvider time, ILogger logger)
    {
        _queue = queue;
        _time = time;
        _logger = logger;
    }

    /// <summary>Since when and why sends fail, or null while they work.</summary>
    public SendFailure? Failure
    {
        get
        {
            lock (_gate)
            {
                return _failing ? new SendFailure(_failingSince, _reason, _failures) : null;
            }
        }
    }

    /// <summary>Records a failed request (no answer, or a refusal); returns true when this one was logged.</summary>
    public bool Failed(string reason)
    {
        bool began;
        TimeSpan duration;
        long failures;
        long dropped;
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            _reason = reason;
            _failures++;
            began = !_failing;
            if (began)
            {
                _failing = true;
                _failingSince = now;
                _lastLogged = now;
                _droppedBefore = Stats.Dropped;
            }
            else if (now - _lastLogged >= StillFailingEvery)
            {
                _lastLogged = now;
            }
            else
            {
                return false;
            }

            duration = Whole(now - _failingSince);
            failures = _failures;
            dropped = Stats.Dropped - _droppedBefore;
        }

        if (began)
        {
            Log.SendFailing(_logger, reason, StillFailingEvery);
        }
        else
        {
            Log.SendStillFailing(_logger, duration, reason, failures, _queue.Count, dropped);
        }

        return true;
    }

    /// <summary>Records a request Matomo answered.</summary>
    public void Succeeded()
    {
        if (!_failing)
        {
            return;
        }

        TimeSpan duration;
        long failures;
        lock (_gate)
        {
            if (!_failing)
            {
                return;
            }

            _failing = false;
            duration = Whole(_time.GetUtcNow() - _failingSince);
            failures = _failures;
            _failures = 0;
        }

        Log.SendRecovered(_logger, duration, failures);
    }

    private MatomoStatistics Stats => _queue.Metrics.Snapshot(_queue.Count);

    private static TimeSpan Whole(TimeSpan duration) => TimeSpan.FromSeconds(Math.Round(duration.TotalSeconds));
}

/// <summary>Sends have failed since <paramref name="Since"/>, the last time because of <paramref name="Reason"/>.</summary>
internal sealed record SendFailure(DateTimeOffset Since, string Reason, long Failures);
