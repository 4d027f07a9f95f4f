using Matomo.Rpc.AspNetCore.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.AspNetCore.Tests.Reliability;

/// <summary>Matomo answering slower than the HTTP timeout, then normally again.</summary>
public sealed class MatomoHttpMiddlewareSlowMatomoTests
{
    private const int Callers = 4;
    private const int PerCaller = 10;
    private const int BatchSize = 10;
    private static readonly TimeSpan Timeout = HttpTestHost.Timeout;

    [Test]
    public async Task Get_MatomoSlowerThanHttpTimeoutThenFast_RequestsUnaffectedAndEveryHitStored()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await HttpTestHost.StartAsync(matomo, o =>
        {
            HttpReliability.Fast(o);
            o.Configuration["Sending:HttpTimeout"] = "00:00:00.200";
            o.Configuration["Sending:BatchSize"] = "10";
        });
        var tracker = host.Tracker;
        const int Total = Callers * PerCaller;
        matomo.Latency = TimeSpan.FromSeconds(2);

        var requests = await host.RunCallersAsync(Callers, 0, PerCaller);
        await Eventually.TrueAsync(() => tracker.Statistics.Retried >= 3, Timeout, () => tracker.Statistics.ToString());
        var fastAgain = DateTimeOffset.UtcNow;
        matomo.Latency = TimeSpan.Zero;
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= Total, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        var distinct = hits.Select(h => h.Key()).Distinct().ToList();
        TestContext.Out.WriteLine($"slow: requests={Total} stored={hits.Count} distinct={distinct.Count} dropped={stats.Dropped} retried={stats.Retried}");
        Assert.That(requests.Max(c => c.Duration), Is.LessThan(TimeSpan.FromSeconds(2)), "no request waited for Matomo");
        Assert.That(distinct, Is.EquivalentTo(requests.Select(c => (c.Caller, c.Sequence))), "no hit lost");
        Assert.That(stats.Dropped, Is.Zero);
        Assert.That(stats.Rejected, Is.Zero);
        Assert.That(stats.Sent, Is.EqualTo(Total));

        // At-least-once, as for the other adapters: only hits of requests that timed out on our side may be stored twice.
        Assert.That(hits.Count - distinct.Count, Is.LessThanOrEqualTo(stats.Retried * BatchSize));
        Assert.That(hits.Where(h => h.ReceivedAt >= fastAgain).GroupBy(h => h.Key()).Where(g => g.Count() > 1).Select(g => g.Key), Is.Empty);
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }
}
