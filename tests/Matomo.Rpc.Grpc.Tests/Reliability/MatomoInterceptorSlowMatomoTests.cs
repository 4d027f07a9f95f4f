using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>Matomo answering slower than the HTTP timeout, then normally again.</summary>
public sealed class MatomoInterceptorSlowMatomoTests
{
    private const int Callers = 4;
    private const int PerCaller = 10;
    private const int BatchSize = 10;
    private static readonly TimeSpan Timeout = ReliabilityHost.Timeout;

    [Test]
    public async Task SayHello_MatomoSlowerThanHttpTimeoutThenFast_CallsUnaffectedAndEveryHitStored()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await ReliabilityHost.StartAsync(matomo, o =>
        {
            o.Sending.HttpTimeout = TimeSpan.FromMilliseconds(200);
            o.Sending.BatchSize = BatchSize;
        });
        var tracker = host.Tracker();
        const int Total = Callers * PerCaller;
        matomo.Latency = TimeSpan.FromSeconds(2);

        var calls = await host.RunCallersAsync(Callers, 0, PerCaller);
        await Eventually.TrueAsync(() => tracker.Statistics.Retried >= 3, Timeout, () => tracker.Statistics.ToString());
        var fastAgain = DateTimeOffset.UtcNow;
        matomo.Latency = TimeSpan.Zero;
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= Total, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        var keys = hits.Select(h => h.Key()).ToList();
        var distinct = keys.Distinct().ToList();
        TestContext.Out.WriteLine($"slow: calls={Total} stored={hits.Count} distinct={distinct.Count} dropped={stats.Dropped} retried={stats.Retried}");
        Assert.That(calls.Max(c => c.Duration), Is.LessThan(TimeSpan.FromSeconds(2)), "no call waited for Matomo");
        Assert.That(distinct, Is.EquivalentTo(calls.Select(c => (c.Caller, c.Sequence))), "no hit lost");
        Assert.That(stats.Dropped, Is.Zero);
        Assert.That(stats.Rejected, Is.Zero);
        Assert.That(stats.Sent, Is.EqualTo(Total), "each hit counted as tracked once, by the answer that came in time");

        // At-least-once: a request that timed out on our side may still have been stored by Matomo, and its hits are sent
        // again (the stand-in, like Matomo, stores before it answers). So duplicates are possible, but only of hits whose
        // request timed out: each retry repeats one such request of at most one batch, and once Matomo answers in time
        // no hit is stored twice.
        Assert.That(hits.Count - distinct.Count, Is.LessThanOrEqualTo(stats.Retried * BatchSize));
        Assert.That(hits.Where(h => h.ReceivedAt >= fastAgain).GroupBy(h => h.Key()).Where(g => g.Count() > 1).Select(g => g.Key), Is.Empty);
        Assert.That(keys.GroupBy(k => k.Caller).Select(g => g.Select(k => k.Sequence).Distinct()), Has.All.Ordered, "order per caller");
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }
}
