using System.Diagnostics;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>Stopping the host with thousands of hits queued: delivered with Matomo up, counted as dropped with Matomo down, by the deadline.</summary>
public sealed class MatomoInterceptorShutdownTests
{
    private const int Callers = 20;
    private const int PerCaller = 150;
    private const int Total = Callers * PerCaller;
    private static readonly TimeSpan Timeout = ReliabilityHost.Timeout;

    [Test]
    public async Task StopAsync_ThousandsQueuedAndMatomoUp_DeliversEveryHitWithinShutdownTimeout()
    {
        var shutdownTimeout = TimeSpan.FromSeconds(10);
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await ReliabilityHost.StartAsync(matomo, o =>
        {
            o.Sending.HttpTimeout = TimeSpan.FromSeconds(10);
            o.Sending.ShutdownTimeout = shutdownTimeout;
        });
        var tracker = host.Tracker();
        // A slow Matomo holds the sender on its first request while the calls fill the queue.
        matomo.Latency = TimeSpan.FromSeconds(2);
        var calls = await host.RunCallersAsync(Callers, 0, PerCaller);
        var queued = tracker.Statistics.QueueLength;
        matomo.Latency = TimeSpan.Zero;

        var clock = Stopwatch.StartNew();
        await host.App.StopAsync().WaitAsync(Timeout);
        var stoppedIn = clock.Elapsed;

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        TestContext.Out.WriteLine($"shutdown (Matomo up): calls={Total} queued-at-stop={queued} stored={hits.Count} dropped={stats.Dropped} stopped-in={stoppedIn}");
        Assert.That(calls, Has.Count.EqualTo(Total));
        Assert.That(queued, Is.GreaterThanOrEqualTo(1000), "thousands of hits were waiting when the host stopped");
        Assert.That(stoppedIn, Is.LessThan(shutdownTimeout));
        Assert.That(hits.Select(h => h.Key()), Is.Unique);
        Assert.That(hits, Has.Count.EqualTo(Total));
        Assert.That(stats.Sent, Is.EqualTo(Total));
        Assert.That(stats.Dropped, Is.Zero);
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }

    [Test]
    public async Task StopAsync_ThousandsQueuedAndMatomoDown_EndsByTheDeadlineAndCountsTheUndeliveredAsDropped()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await ReliabilityHost.StartAsync(matomo, o => o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(1));
        var tracker = host.Tracker();
        await matomo.StopAsync().WaitAsync(Timeout);
        var calls = await host.RunCallersAsync(Callers, 0, PerCaller);
        await Eventually.TrueAsync(() => tracker.Statistics.Retried >= 2, Timeout, () => tracker.Statistics.ToString());

        var clock = Stopwatch.StartNew();
        await host.App.StopAsync().WaitAsync(Timeout);
        var stoppedIn = clock.Elapsed;

        var stats = tracker.Statistics;
        TestContext.Out.WriteLine($"shutdown (Matomo down): calls={Total} stored={matomo.Hits.Count} dropped={stats.Dropped} stopped-in={stoppedIn}");
        Assert.That(calls, Has.Count.EqualTo(Total));
        Assert.That(stoppedIn, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(matomo.Hits, Is.Empty);
        Assert.That(stats.Sent, Is.Zero);
        Assert.That(stats.Dropped, Is.EqualTo(Total), "every undelivered hit counted as dropped");
        Assert.That(stats.QueueLength, Is.Zero);
        Assert.That(host.Logs.Entries.Count(e => e.EventId.Name == "ShutdownDropped"), Is.EqualTo(1));
    }
}
