using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Compares, over a sliding window of a few minutes, the hits calls offered (handed to the queue, taken or not) with the
/// hits Matomo took (answered as sent or rejected), from the pipeline's counters alone, on its own timer. When calls
/// offered clearly more than Matomo took over a whole window, it logs one warning (<c>OfferedExceedsCapacity</c>) with
/// both rates and the sample rate that would fit, and keeps the same in <see cref="TrackingState.Capacity"/> for the
/// health check; it warns again only after a whole window without excess. A window in which Matomo took nothing is an
/// outage (the sender reports it), not a measure of capacity, and is not reported here.
/// </summary>
internal sealed class CapacityMonitor : IHostedService, IDisposable
{
    public static readonly TimeSpan DefaultTick = TimeSpan.FromSeconds(15);
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromMinutes(5);

    /// <summary>Calls must offer more than Matomo took by this fraction of what they offered...</summary>
    private const double Tolerance = 0.1;

    private readonly MatomoMetrics _metrics;
    private readonly TrackingState _state;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _tick;
    private readonly TimeSpan _window;
    private readonly double _rate;

    /// <summary>...and by more than this many hits: what may be in flight or waiting when the window ends.</summary>
    private readonly long _minExcess;

    private readonly List<(long Timestamp, long Offered, long Taken)> _samples = [];
    private readonly Lock _gate = new();
    private ITimer? _timer;
    private bool _warned;
    private long? _clearSince;

    public CapacityMonitor(MatomoOptions options, HitQueue queue, TrackingState state, TimeProvider time, ILogger logger, TimeSpan? tick = null, TimeSpan? window = null)
    {
        _metrics = queue.Metrics;
        _state = state;
        _time = time;
        _logger = logger;
        _tick = tick ?? DefaultTick;
        _window = window ?? DefaultWindow;
        _rate = options.Sampling.Rate;
        _minExcess = 2L * options.Sending.BatchSize * Math.Max(1, options.Sending.MaxConcurrentRequests);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Tick();
        _timer = _time.CreateTimer(static self => ((CapacityMonitor)self!).Tick(), this, _tick, _tick);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => Interlocked.Exchange(ref _timer, null)?.Dispose();

    /// <summary>Takes one sample of the counters and judges the window that ends with it.</summary>
    public void Tick()
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            _samples.Add((now, _metrics.OfferedTotal, _metrics.TakenTotal));

            // Keep the newest sample that is at least a window old as the window's start.
            while (_samples.Count > 2 && _time.GetElapsedTime(_samples[1].Timestamp, now) >= _window)
            {
                _samples.RemoveAt(0);
            }

            var first = _samples[0];
            var span = _time.GetElapsedTime(first.Timestamp, now);
            if (span < _window)
            {
                return;
            }

            var offered = _metrics.OfferedTotal - first.Offered;
            var taken = _metrics.TakenTotal - first.Taken;
            var excess = offered - taken;
            if (taken > 0 && excess > Math.Max(Tolerance * offered, _minExcess))
            {
                var seconds = span.TotalSeconds;
                var report = new CapacityReport(
                    Math.Round(offered / seconds, 1),
                    Math.Round(taken / seconds, 1),
                    FittingRate(_rate * taken / offered),
                    _rate,
                    span);
                _state.Capacity = report;
                _clearSince = null;
                if (!_warned)
                {
                    _warned = true;
                    Log.OfferedExceedsCapacity(_logger, report.OfferedPerSecond, report.Window, report.TakenPerSecond, report.FittingSampleRate, _rate);
                }

                return;
            }

            _state.Capacity = null;
            if (_warned)
            {
                _clearSince ??= now;
                if (_time.GetElapsedTime(_clearSince.Value, now) >= _window)
                {
                    _warned = false;
                    _clearSince = null;
                }
            }
        }
    }

    /// <summary>The rate rounded down to two significant digits (0.2347 → 0.23, 0.0123 → 0.012), so that it fits.</summary>
    internal static double FittingRate(double rate)
    {
        if (rate <= 0)
        {
            return 0;
        }

        if (rate >= 1)
        {
            return 1;
        }

        var scale = Math.Pow(10, 1 - Math.Floor(Math.Log10(rate)));
        return Math.Floor((rate * scale) + 1e-9) / scale;
    }
}
