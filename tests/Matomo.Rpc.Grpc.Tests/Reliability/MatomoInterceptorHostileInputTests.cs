using System.Collections.Concurrent;
using Grpc.Core;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>
/// Hostile callers (random and extreme user agents, languages, referrers) and hostile per-call values set by service code
/// (lone surrogates, control characters, megabyte strings, reserved names, thousands of variables): no call fails because
/// of tracking, and every hit Matomo receives is valid per MATOMO.md.
/// </summary>
public sealed class MatomoInterceptorHostileInputTests
{
    private const int Seed = 20261125;
    private const int Callers = 8;
    private const int PerCaller = 25;
    private static readonly TimeSpan Timeout = ReliabilityHost.Timeout;

    [Test]
    public async Task SayHello_HostileHeadersAndPerCallValues_NoCallFailsAndEveryHitIsValid()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await ReliabilityHost.StartAsync(matomo, o => o.Sending.BatchSize = 50);
        var tracker = host.Tracker();
        const int Total = Callers * PerCaller;
        var failures = new ConcurrentBag<string>();
        var durations = new ConcurrentBag<TimeSpan>();
        TestContext.Out.WriteLine($"seed {Seed}");

        await Task.WhenAll(Enumerable.Range(0, Callers).Select(async c =>
        {
            var text = new HostileText(Seed + c);
            for (var i = 0; i < PerCaller; i++)
            {
                var raw = new byte[text.Next(3000)];
                new Random(Seed + (c * 1000) + i).NextBytes(raw);
                var headers = new Metadata
                {
                    { ServiceCodeInterceptor.HostileSeed, (Seed + (c * 1000) + i).ToString(System.Globalization.CultureInfo.InvariantCulture) },
                    { ServiceCodeInterceptor.HostileBytes, raw },
                };
                foreach (var name in new[] { "user-agent", "accept-language", "referer" })
                {
                    if (text.HeaderValue() is { Length: > 0 } value)
                    {
                        headers.Add(name, value);
                    }
                }

                try
                {
                    durations.Add((await host.CallAsync("caller-" + c, i, headers)).Duration);
                }
                catch (Exception ex)
                {
                    failures.Add($"caller-{c} call {i}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        })).WaitAsync(Timeout);
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= Total, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        TestContext.Out.WriteLine($"durations: max={durations.Max()} avg={durations.Average(d => d.TotalMilliseconds)}ms");
        var hits = matomo.Hits;
        TestContext.Out.WriteLine($"hostile: calls={Total} stored={hits.Count} sent={stats.Sent} rejected={stats.Rejected} dropped={stats.Dropped} requests={matomo.Requests.Count}");
        Assert.That(failures, Is.Empty, "no call failed");
        Assert.That(stats.Rejected, Is.Zero, "tracked == sent: Matomo found nothing invalid");
        Assert.That(stats.Dropped, Is.Zero);
        Assert.That(stats.Sent, Is.EqualTo(Total));
        Assert.That(hits, Has.Count.EqualTo(Total));
        Assert.That(hits.Select(h => h.Key()), Is.Unique);
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
        // The hostile values did reach Matomo: cut to its limits, lone surrogates replaced by U+FFFD.
        Assert.That(hits.Count(h => h["action_name"].Length == 1024), Is.GreaterThan(0));
        Assert.That(hits.Count(h => h.Parameters.Values.Any(v => v.Contains('\uFFFD', StringComparison.Ordinal))), Is.GreaterThan(0));
        Assert.That(hits.Count(h => h.CustomVariables.Count == 5), Is.GreaterThan(0));
        Assert.That(host.Logs.Entries.Where(e => e.EventId.Name is "CompleteFailed" or "SenderFailed" or "GrpcTrackingFailed").Select(e => e.EventId.Name), Is.Empty);
        var after = await host.CallAsync("after", 0);
        Assert.That(after.Duration, Is.LessThan(TimeSpan.FromSeconds(5)), "the host still serves");
    }
}
