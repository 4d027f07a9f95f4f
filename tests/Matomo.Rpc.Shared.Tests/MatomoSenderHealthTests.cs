using System.Diagnostics;
using Matomo.Rpc.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// The health check as an app runs it: registered with <c>AddHealthChecks().AddMatomoTracking()</c>, run by the real
/// <see cref="HealthCheckService"/> (which makes a new check for every run), over the real sender on a fake clock.
/// </summary>
[TestFixture]
public class MatomoSenderHealthTests
{
    private static readonly TimeSpan RealTimeout = TimeSpan.FromSeconds(20);
    private readonly FakeTimeProvider _time = new(TrackerHarness.Start);
    private ArmedTimeProvider _clock = null!;
    private FakeHitWriter _writer = null!;
    private ServiceProvider _services = null!;
    private IHostedService[] _hosted = [];

    [SetUp]
    public void SetUp() => Build();

    private void Build(Action<MatomoOptions>? configure = null)
    {
        _services?.Dispose();
        _clock = new ArmedTimeProvider(_time);
        _writer = new FakeHitWriter(_time);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(_clock);
        services.AddMatomoTracking(o =>
        {
            o.SiteId = 1;
            o.LogOnly = true;
            o.Check.Enabled = false;
            o.Sending.BatchSize = 1;
            o.Sending.RetryBaseDelay = TimeSpan.FromSeconds(1);
            o.Sending.RetryMaxDelay = TimeSpan.FromSeconds(4);
            o.Sending.DegradedAfter = TimeSpan.FromSeconds(30);
            configure?.Invoke(o);
        });
        services.Replace(ServiceDescriptor.Singleton<IHitWriter>(_writer));
        services.AddHealthChecks().AddMatomoTracking();
        _services = services.BuildServiceProvider();
    }

    [TearDown]
    public async Task TearDown()
    {
        _writer.Answer = (_, hits) => SendResult.Ok(hits.Count);
        foreach (var hosted in _hosted)
        {
            var stop = hosted.StopAsync(CancellationToken.None);
            await AdvanceUntilAsync(() => stop.IsCompleted);
            await stop.WaitAsync(RealTimeout);
        }

        await _services.DisposeAsync();
    }

    private MatomoTracker Tracker => _services.GetRequiredService<MatomoTracker>();

    private async Task StartAsync()
    {
        _hosted = [.. _services.GetServices<IHostedService>()];
        foreach (var hosted in _hosted)
        {
            await hosted.StartAsync(CancellationToken.None).WaitAsync(RealTimeout);
        }
    }

    private void Track(string action) => Assert.That(Tracker.StartCall(action, MatomoCallKind.Unary)!.Complete(), Is.True);

    private async Task<HealthReportEntry> CheckAsync()
    {
        var report = await _services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(RealTimeout);
        return report.Entries["matomo"];
    }

    /// <summary>Moves the fake clock a second at a time, each time once the sender is parked on a timer.</summary>
    private async Task AdvanceUntilAsync(Func<bool> done)
    {
        var watch = Stopwatch.StartNew();
        while (!done())
        {
            Assert.That(watch.Elapsed, Is.LessThan(RealTimeout), "condition not reached");
            if (_clock.Armed > 0)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
            }

            await Task.Delay(1);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> done)
    {
        var watch = Stopwatch.StartNew();
        while (!done())
        {
            Assert.That(watch.Elapsed, Is.LessThan(RealTimeout), "condition not reached");
            await Task.Delay(1);
        }
    }

    [Test]
    public async Task CheckHealthAsync_RunTwiceAfterADrop_DegradedUntilDegradedAfterPassedThenHealthy()
    {
        Track("a/old");
        _time.Advance(TimeSpan.FromHours(25)); // no token: Matomo would refuse it, so it is dropped as expired
        await StartAsync();
        await WaitUntilAsync(() => Tracker.Statistics.Dropped == 1);

        var first = await CheckAsync();
        var second = await CheckAsync();
        _time.Advance(TimeSpan.FromSeconds(30));
        var third = await CheckAsync();

        Assert.That(first.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(first.Description, Does.Contain("dropped"));
        Assert.That(second.Status, Is.EqualTo(HealthStatus.Degraded), "every consumer of the check sees the drop, not only the first");
        Assert.That(third.Status, Is.EqualTo(HealthStatus.Healthy), "a drop long past does not degrade for good");
        Assert.That(third.Data["dropped"], Is.EqualTo(1L));
    }

    [Test]
    public async Task CheckHealthAsync_SendsFailingLongerThanDegradedAfter_DegradedWithTheReasonThenHealthyAfterTheFirstSuccess()
    {
        var down = true;
        _writer.Answer = (_, hits) => Volatile.Read(ref down)
            ? new SendResult(SendStatus.Transient, Reason: "ConnectionError: Connection refused (127.0.0.1:8780)")
            : SendResult.Ok(hits.Count);
        await StartAsync();
        Track("a/0");
        await WaitUntilAsync(() => _writer.Calls.Count == 1);

        var justFailed = await CheckAsync();
        await AdvanceUntilAsync(() => _time.GetUtcNow() - _writer.Calls[0].At >= TimeSpan.FromSeconds(29));
        var before = await CheckAsync();
        await AdvanceUntilAsync(() => _time.GetUtcNow() - _writer.Calls[0].At >= TimeSpan.FromSeconds(30));
        var failing = await CheckAsync();
        Volatile.Write(ref down, false);
        await AdvanceUntilAsync(() => Tracker.Statistics.Sent == 1);
        var recovered = await CheckAsync();

        Assert.That(justFailed.Status, Is.EqualTo(HealthStatus.Healthy));
        Assert.That(before.Status, Is.EqualTo(HealthStatus.Healthy), "not before Matomo:Sending:DegradedAfter");
        Assert.That(failing.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(failing.Description, Does.Contain("Connection refused (127.0.0.1:8780)").And.Contain("1 hits are held"));
        Assert.That(failing.Data["failure"], Is.EqualTo("ConnectionError: Connection refused (127.0.0.1:8780)"));
        Assert.That(recovered.Status, Is.EqualTo(HealthStatus.Healthy));
        Assert.That(recovered.Description, Is.EqualTo("Matomo tracking is sending."));
        Assert.That(recovered.Data.ContainsKey("failure"), Is.False);
    }

    [Test]
    public async Task CheckHealthAsync_HitBeingSent_CountedAsHeld()
    {
        _writer.Manual = true;
        await StartAsync();
        Track("a/0");
        var request = await _writer.NextAsync();

        var entry = await CheckAsync();
        request.Result.SetResult(SendResult.Ok(1));

        Assert.That(_services.GetRequiredService<HitQueue>().Waiting, Is.Zero);
        Assert.That(entry.Data["queue_length"], Is.EqualTo(1), "the hit being sent still holds its place in the queue");
    }

    [Test]
    public async Task CheckHealthAsync_BatchInFlightHoldsMoreThanHalfTheQueue_Healthy()
    {
        Build(o =>
        {
            o.Sending.QueueCapacity = 10;
            o.Sending.BatchSize = 6;
        });
        _writer.Manual = true;
        await StartAsync();
        for (var i = 0; i < 6; i++)
        {
            Track("a/" + i);
        }

        await _writer.NextAsync();
        var entry = await CheckAsync();

        Assert.That(entry.Status, Is.EqualTo(HealthStatus.Healthy), "a batch in flight is normal: " + entry.Description);
        Assert.That(entry.Data["queue_length"], Is.EqualTo(6));
        Assert.That(entry.Data["waiting"], Is.EqualTo(0));
    }

    [Test]
    public async Task CheckHealthAsync_MoreThanHalfTheQueueWaits_Degraded()
    {
        Build(o =>
        {
            o.Sending.QueueCapacity = 10;
            o.Sending.BatchSize = 2;
        });
        _writer.Manual = true;
        await StartAsync();
        Track("a/0");
        Track("a/1");
        await _writer.NextAsync();
        for (var i = 2; i < 7; i++)
        {
            Track("a/" + i);
        }

        var half = await CheckAsync();
        Track("a/7");
        var over = await CheckAsync();

        Assert.That(half.Status, Is.EqualTo(HealthStatus.Healthy));
        Assert.That(over.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(over.Description, Does.StartWith("6 Matomo hits wait to be sent (8 of 10 held)"));
    }
}
