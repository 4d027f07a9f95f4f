using System.Globalization;
using Matomo.Rpc.AspNetCore.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.AspNetCore.Tests.Reliability;

/// <summary>Matomo down for a stretch of requests, then back: what fitted in the queue arrives once, in order, at its real time.</summary>
public sealed class MatomoHttpMiddlewareOutageTests
{
    private const int Callers = 4;
    private const int Before = 5;
    private const int During = 50;
    private const int After = 5;
    private const int Capacity = 50;
    private const int BatchSize = 10;
    private static readonly TimeSpan Timeout = HttpTestHost.Timeout;

    [Test]
    public async Task Get_MatomoDownThenBack_StoresWhatFittedOnceInOrderAtItsRealTimeAndCountsTheRestAsDropped()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await HttpTestHost.StartAsync(matomo, o =>
        {
            HttpReliability.Fast(o);
            o.Configuration["Sending:QueueCapacity"] = Capacity.ToString(CultureInfo.InvariantCulture);
            o.Configuration["Sending:BatchSize"] = BatchSize.ToString(CultureInfo.InvariantCulture);
        });
        var tracker = host.Tracker;
        const int Total = Callers * (Before + During + After);
        var before = await host.RunCallersAsync(Callers, 0, Before);
        await matomo.WaitForHitsAsync(Callers * Before, Timeout);

        await matomo.StopAsync().WaitAsync(Timeout);
        var during = await host.RunCallersAsync(Callers, Before, During);
        await Eventually.TrueAsync(() => tracker.Statistics.Retried >= 3, Timeout, () => tracker.Statistics.ToString());
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // Matomo stays down well beyond the requests: a cdt stamped at send time would show
        var downFor = DateTimeOffset.UtcNow;
        await matomo.RestartAsync().WaitAsync(Timeout);
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped >= Callers * (Before + During), Timeout, () => tracker.Statistics.ToString());
        var after = await host.RunCallersAsync(Callers, Before + During, After);
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= Total && s.QueueLength == 0, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        var requests = before.Concat(during).Concat(after).ToDictionary(c => (c.Caller, c.Sequence));
        var keys = hits.Select(h => h.Key()).ToList();
        var outageStored = keys.Count(k => k.Sequence >= Before && k.Sequence < Before + During);
        TestContext.Out.WriteLine($"outage: requests={Total} stored={hits.Count} dropped={stats.Dropped} outage-stored={outageStored} retried={stats.Retried}");
        Assert.That(requests, Has.Count.EqualTo(Total), "every request succeeded");
        Assert.That(during.Max(c => c.Duration), Is.LessThan(TimeSpan.FromSeconds(2)), "no request slowed by the outage");
        Assert.That(stats.Dropped, Is.GreaterThan(0), "the outage overflowed the queue");
        Assert.That(Total - hits.Count, Is.EqualTo(stats.Dropped), "requests - stored == dropped");
        Assert.That(stats.Sent, Is.EqualTo(hits.Count));
        Assert.That(stats.Rejected, Is.Zero);
        Assert.That(keys, Is.Unique, "each hit stored once");
        Assert.That(keys.All(requests.ContainsKey), Is.True, "only hits of real requests");
        Assert.That(outageStored, Is.InRange(Capacity, Capacity + BatchSize), "the queue plus the batch in hand were kept");
        foreach (var caller in requests.Keys.Select(k => k.Caller).Distinct())
        {
            var sequences = keys.Where(k => k.Caller == caller).Select(k => k.Sequence).ToList();
            Assert.That(sequences, Is.Ordered, $"{caller}'s hits in request order");
            Assert.That(sequences.Where(s => s < Before || s >= Before + During), Is.EqualTo(Enumerable.Range(0, Before).Concat(Enumerable.Range(Before + During, After))), $"{caller}: all before and after the outage");
        }

        foreach (var hit in hits)
        {
            var request = requests[hit.Key()];
            Assert.That(hit["action_name"], Is.EqualTo("GET /seq/{caller}/{n:int}"));
            Assert.That(hit.Time, Is.InRange(request.Started.FloorToSecond(), request.Ended), $"cdt of {hit.Key()} is the request's end");
        }

        Assert.That(hits.Where(h => h.Key().Sequence < Before + During).Max(h => h.Time), Is.LessThan(downFor.FloorToSecond()), "not the send time");
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }
}
