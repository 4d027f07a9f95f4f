using System.Text.Json;
using Grpc.Core;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>One hit that makes Matomo roll back its whole batch costs only that hit.</summary>
public sealed class MatomoInterceptorPoisonedBatchTests
{
    private const int Calls = 30;
    private const int Poisoned = 17;
    private static readonly TimeSpan Timeout = ReliabilityHost.Timeout;

    [Test]
    public async Task SayHello_OneHitRollsBackItsBatch_AllOtherHitsOfTheBatchStoredAndOneDropped()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        matomo.PoisonWhen = p => p.TryGetValue("dimension3", out var v) && v == "poison";
        await using var host = await ReliabilityHost.StartAsync(matomo, o =>
        {
            // The batch fills up to the 30 calls well before the interval ends: all 30 travel in one request.
            o.Sending.BatchSize = Calls;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(20);
        });
        var tracker = host.Tracker();

        var calls = await Task.WhenAll(Enumerable.Range(0, Calls).Select(i =>
            host.CallAsync("caller-" + i, i, i == Poisoned ? new Metadata { { ServiceCodeInterceptor.VarPrefix + "dimension3", "poison" } } : null)));
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= Calls, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        var first = matomo.Requests.First(r => r.Path == "/matomo.php" && r.Method == "POST");
        TestContext.Out.WriteLine($"poison: calls={Calls} stored={hits.Count} dropped={stats.Dropped} requests={matomo.Requests.Count}");
        Assert.That(calls, Has.Length.EqualTo(Calls));
        Assert.That(first.StatusCode, Is.EqualTo(500), "Matomo rolled the batch back");
        Assert.That(JsonDocument.Parse(first.Body).RootElement.GetProperty("requests").GetArrayLength(), Is.EqualTo(Calls), "one batch");
        Assert.That(hits.Select(h => h.Key().Sequence), Is.EquivalentTo(Enumerable.Range(0, Calls).Where(i => i != Poisoned)));
        Assert.That(stats.Dropped, Is.EqualTo(1));
        Assert.That(stats.Sent, Is.EqualTo(Calls - 1));
        Assert.That(stats.Rejected, Is.Zero);
        Assert.That(host.Logs.Entries.Count(e => e.EventId.Name == "PoisonedHitDropped"), Is.EqualTo(1));
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }
}
