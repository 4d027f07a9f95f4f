using Matomo.Rpc.Internal;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>The capacity monitor on a fake clock, driven by the pipeline's counters only.</summary>
[TestFixture]
public class CapacityMonitorTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    private TrackerHarness _harness = null!;
    private TrackingState _state = null!;
    private CapturingLogger _logger = null!;
    private CapacityMonitor _monitor = null!;
    private MatomoHit _hit = null!;

    [SetUp]
    public async Task SetUp()
    {
        using (var unsampled = new TrackerHarness())
        {
            _hit = unsampled.Hit();
        }

        _harness = new TrackerHarness(o => o.Sampling.Rate = 0.5);
        _state = new TrackingState();
        _logger = new CapturingLogger();
        _monitor = new CapacityMonitor(_harness.Options, _harness.Queue, _state, _harness.Time, _logger, Tick, Window);
        await _monitor.StartAsync(CancellationToken.None);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _monitor.StopAsync(CancellationToken.None);
        _harness.Dispose();
    }

    private MatomoMetrics Metrics => _harness.Queue.Metrics;

    private IEnumerable<(string? EventName, LogLevel Level, string Text)> Warnings =>
        _logger.Entries.Where(e => e.EventName == "OfferedExceedsCapacity");

    /// <summary>Runs <paramref name="duration"/> in ticks, with calls offering and Matomo taking the given hits per second.</summary>
    private void Run(TimeSpan duration, int offeredPerSecond, int takenPerSecond)
    {
        for (var elapsed = TimeSpan.Zero; elapsed < duration; elapsed += Tick)
        {
            for (var i = 0; i < offeredPerSecond * Tick.TotalSeconds; i++)
            {
                // A call offers its hit to the queue, which counts it; the sender takes it at once.
                _harness.Queue.TryWrite(_hit);
                _harness.Queue.TryRead(out _);
                _harness.Queue.Release(1);
            }

            Metrics.Sent((int)(takenPerSecond * Tick.TotalSeconds * 0.9));
            Metrics.Rejected((int)(takenPerSecond * Tick.TotalSeconds * 0.1));
            _harness.Time.Advance(Tick);
        }
    }

    [Test]
    public void Tick_OfferedAboveTakenForAWindow_WarnsOnceWithBothRatesAndTheRateThatFits()
    {
        Run(Window + Tick, offeredPerSecond: 1000, takenPerSecond: 200);
        Run(Window, offeredPerSecond: 1000, takenPerSecond: 200);

        Assert.That(Warnings.Count(), Is.EqualTo(1));
        Assert.That(Warnings.Single().Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(Warnings.Single().Text, Does.Contain("1000 hits/s").And.Contain("took 200 hits/s").And.Contain("about 0.1 (now 0.5)"));
        Assert.That(_state.Capacity, Is.EqualTo(new CapacityReport(1000, 200, 0.1, 0.5, Window)));
    }

    [Test]
    public void Tick_OverForLessThanAWindow_NoWarning()
    {
        Run(Window - Tick, offeredPerSecond: 1000, takenPerSecond: 200);

        Assert.That(Warnings, Is.Empty);
        Assert.That(_state.Capacity, Is.Null);
    }

    [Test]
    public void Tick_MatomoKeepsUp_NoWarning()
    {
        Run(3 * Window, offeredPerSecond: 1000, takenPerSecond: 1000);

        Assert.That(Warnings, Is.Empty);
        Assert.That(_state.Capacity, Is.Null);
    }

    [Test]
    public void Tick_ExcessWithinTolerance_NoWarning()
    {
        Run(2 * Window, offeredPerSecond: 1000, takenPerSecond: 950);

        Assert.That(Warnings, Is.Empty);
    }

    [Test]
    public void Tick_MatomoTookNothing_OutageNotReportedAsCapacity()
    {
        Run(2 * Window, offeredPerSecond: 100, takenPerSecond: 0);

        Assert.That(Warnings, Is.Empty);
        Assert.That(_state.Capacity, Is.Null);
    }

    [Test]
    public void Tick_BurstThenMatomoCatchesUp_ClearsAndWarnsAgainOnlyAfterAWholeWindow()
    {
        Run(Window + Tick, offeredPerSecond: 1000, takenPerSecond: 200);
        Assert.That(Warnings.Count(), Is.EqualTo(1));

        // Traffic falls below capacity: once the window holds no excess, the health data clears.
        Run(2 * Window, offeredPerSecond: 100, takenPerSecond: 100);
        Assert.That(_state.Capacity, Is.Null);

        Run(Window + Tick, offeredPerSecond: 1000, takenPerSecond: 200);
        Assert.That(Warnings.Count(), Is.EqualTo(2));
    }

    [Test]
    public async Task StopAsync_AfterStop_NoMoreSamples()
    {
        await _monitor.StopAsync(CancellationToken.None);

        Run(3 * Window, offeredPerSecond: 1000, takenPerSecond: 100);

        Assert.That(Warnings, Is.Empty);
    }

    [Test]
    public async Task HealthCheck_OverCapacity_DataHasBothRatesAndTheRateThatFits()
    {
        Run(Window + Tick, offeredPerSecond: 1000, takenPerSecond: 250);
        var check = new MatomoHealthCheck(_harness.Tracker, _harness.Queue, _state, new SendHealth(_harness.Queue, _harness.Time, NullLogger.Instance), _harness.Time);

        var result = await check.CheckHealthAsync(new HealthCheckContext());

        Assert.That(result.Data["offered_hits_per_second"], Is.EqualTo(1000.0));
        Assert.That(result.Data["taken_hits_per_second"], Is.EqualTo(250.0));
        Assert.That(result.Data["fitting_sample_rate"], Is.EqualTo(0.12));
        Assert.That(result.Data["sampled_out"], Is.EqualTo(0L));
    }

    [TestCase(0.2347, 0.23)]
    [TestCase(0.0123, 0.012)]
    [TestCase(0.1, 0.1)]
    [TestCase(0.5, 0.5)]
    [TestCase(0.99999, 0.99)]
    [TestCase(1.3, 1.0)]
    [TestCase(0.0, 0.0)]
    public void FittingRate_RoundsDownToTwoSignificantDigits(double rate, double expected)
    {
        Assert.That(CapacityMonitor.FittingRate(rate), Is.EqualTo(expected).Within(1e-12));
    }
}
