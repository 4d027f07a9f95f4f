using System.Diagnostics;
using Matomo.Rpc.Internal;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// On the system clock a call's end time of day comes from the same clock read that times it, through a pairing of the
/// monotonic clock with the time of day that is renewed when it is more than a second old: it must stay the real time.
/// </summary>
[TestFixture]
public class SystemClockTests
{
    // Wider than any drift of the two clocks over a second, narrower than anything a wrong conversion would give.
    private static readonly TimeSpan Tolerance = TimeSpan.FromMilliseconds(50);

    private readonly TrackerHarness.TestMeterFactory _meters = new();
    private MatomoOptions _options = null!;
    private HitQueue _queue = null!;

    [SetUp]
    public void SetUp()
    {
        _options = new MatomoOptions { SiteId = 1, LogOnly = true };
        _queue = new HitQueue(_options, _meters, TimeProvider.System);
    }

    [TearDown]
    public void TearDown() => _meters.Dispose();

    [Test]
    public void Complete_SystemClock_TimestampIsTheTimeOfDayAtTheEnd()
    {
        var tracker = new MatomoTracker(_options, TimeProvider.System, _queue, NullLogger<MatomoTracker>.Instance);
        var scope = tracker.StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary)!;

        var before = DateTimeOffset.UtcNow;
        Assert.That(scope.Complete(), Is.True);
        var after = DateTimeOffset.UtcNow;

        Assert.That(_queue.TryRead(out var hit), Is.True);
        Assert.That(hit!.Timestamp, Is.InRange(before - Tolerance, after + Tolerance));
        Assert.That(hit.Timestamp.Offset, Is.EqualTo(TimeSpan.Zero));
        Assert.That(hit.Duration, Is.GreaterThanOrEqualTo(TimeSpan.Zero).And.LessThan(after - before + Tolerance));
    }

    [TestCase(5)]
    [TestCase(-3)]
    [TestCase(3600)]
    public void UtcAt_ReadingFarFromThePairing_PairsAgainAndGivesThatTime(int seconds)
    {
        var services = new ScopeServices(_options, TimeProvider.System, _queue, NullLogger.Instance);
        var offset = TimeSpan.FromSeconds(seconds);

        var now = DateTimeOffset.UtcNow;
        var at = services.UtcAt(Stopwatch.GetTimestamp() + (long)(offset.TotalSeconds * Stopwatch.Frequency));

        Assert.That(at, Is.EqualTo(now + offset).Within(Tolerance));
    }

    [Test]
    public void UtcAt_ReadingsWithinASecond_FollowTheMonotonicClock()
    {
        var services = new ScopeServices(_options, TimeProvider.System, _queue, NullLogger.Instance);
        var start = Stopwatch.GetTimestamp();
        var quarter = Stopwatch.Frequency / 4;

        var first = services.UtcAt(start);
        var later = services.UtcAt(start + quarter);
        var earlier = services.UtcAt(start - quarter);

        Assert.That(first, Is.EqualTo(DateTimeOffset.UtcNow).Within(Tolerance));
        Assert.That(later - first, Is.EqualTo(TimeSpan.FromMilliseconds(250)).Within(TimeSpan.FromMilliseconds(1)));
        Assert.That(first - earlier, Is.EqualTo(TimeSpan.FromMilliseconds(250)).Within(TimeSpan.FromMilliseconds(1)));
    }

    [Test]
    public void UtcAt_FakeClock_IsTheFakeClocksTime()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(TrackerHarness.Start);
        var services = new ScopeServices(_options, time, _queue, NullLogger.Instance);
        time.AdjustTime(TrackerHarness.Start + TimeSpan.FromHours(2));

        Assert.That(services.UtcAt(time.GetTimestamp()), Is.EqualTo(TrackerHarness.Start + TimeSpan.FromHours(2)));
    }
}
