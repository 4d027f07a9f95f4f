using System.Collections.Concurrent;
using System.Text;
using Matomo.Rpc.AspNetCore.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.AspNetCore.Tests.Reliability;

/// <summary>
/// Hostile clients: random and extreme paths (escaped bytes, 4 KB long), methods nobody knows, user agents, languages,
/// referrers and per-request values: no request fails because of tracking, every hit Matomo receives is valid per
/// MATOMO.md, and invented methods and paths do not become actions.
/// </summary>
public sealed class MatomoHttpMiddlewareHostileInputTests
{
    private const int Seed = 20261130;
    private const int Callers = 6;
    private const int PerCaller = 25;
    private static readonly TimeSpan Timeout = HttpTestHost.Timeout;
    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "BREW", "M-SEARCH", "get"];

    [Test]
    public async Task Request_HostilePathsMethodsAndHeaders_NoRequestFailsEveryHitValidAndActionsBounded()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        using var logs = new CapturingLoggerProvider();
        await using var host = await HttpTestHost.StartAsync(matomo, o =>
        {
            HttpReliability.Fast(o);
            o.Configuration["Sending:BatchSize"] = "50";
            o.Configuration["Http:KeepQuery"] = "true";
        }, logs);
        var tracker = host.Tracker;
        const int Total = Callers * PerCaller;
        var failures = new ConcurrentBag<string>();
        var statuses = new ConcurrentBag<int>();

        await Task.WhenAll(Enumerable.Range(0, Callers).Select(async c =>
        {
            var text = new HostileText(Seed + c);
            var random = new Random(Seed + c);
            for (var i = 0; i < PerCaller; i++)
            {
                var method = Methods[random.Next(Methods.Length)];
                var path = (random.Next(2) == 0 ? "/echo/" : "/nowhere/") + Path(random) + "?q=" + Uri.EscapeDataString(text.HeaderValue());
                using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative));
                foreach (var name in new[] { "User-Agent", "Accept-Language", "Referer", "x-hostile-var" })
                {
                    if (text.HeaderValue() is { Length: > 0 } value)
                    {
                        request.Headers.TryAddWithoutValidation(name, value);
                    }
                }

                try
                {
                    using var response = await host.Client.SendAsync(request);
                    statuses.Add((int)response.StatusCode);
                    if ((int)response.StatusCode >= 500)
                    {
                        failures.Add($"{method} {path}: {(int)response.StatusCode}");
                    }
                }
                catch (Exception ex)
                {
                    failures.Add($"{method} {path}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        })).WaitAsync(Timeout);
        // Kestrel answers requests it refuses (a NUL in the path, a request line over 8 KB: 400, 414) itself: those never
        // reach the app, which is not this suite's business. Every
        // request that reached the app is a hit; every one of them has completed once the client has all answers.
        await Eventually.TrueAsync(() => host.Completed.Paths.Count == statuses.Count(s => s is not (400 or 414 or 431)), Timeout, () => $"{host.Completed.Paths.Count} completed; answers: " + string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key}x{g.Count()}")));
        var reached = host.Completed.Paths.Count;
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= reached, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        TestContext.Out.WriteLine($"hostile: requests={Total} reached the app={reached} stored={hits.Count} sent={stats.Sent} rejected={stats.Rejected} dropped={stats.Dropped}");
        TestContext.Out.WriteLine("statuses: " + string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key}x{g.Count()}")));
        Assert.That(failures, Is.Empty, "no request failed");
        Assert.That(reached, Is.GreaterThan(Total / 2), "most hostile requests reached the app");
        Assert.That(stats.Rejected, Is.Zero, "Matomo found nothing invalid");
        Assert.That(stats.Dropped, Is.Zero);
        Assert.That(hits, Has.Count.EqualTo(reached));
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
        Assert.That(hits.Select(h => h["action_name"]).Distinct(), Is.SubsetOf(new[]
        {
            "GET /echo/{**rest}", "POST /echo/{**rest}", "PUT /echo/{**rest}", "DELETE /echo/{**rest}", "PATCH /echo/{**rest}", "OTHER /echo/{**rest}",
            "GET (unmatched)", "POST (unmatched)", "PUT (unmatched)", "DELETE (unmatched)", "PATCH (unmatched)", "OTHER (unmatched)",
        }), "neither paths nor invented methods make actions");
        Assert.That(hits.Count(h => h["url"].Length == 1024), Is.GreaterThan(0), "long URLs cut to Matomo's limit");
        Assert.That(logs.Entries.Where(e => e.EventId.Name is "CompleteFailed" or "SenderFailed" or "HttpTrackingFailed").Select(e => e.EventId.Name), Is.Empty);
    }

    private static string Path(Random random)
    {
        var segments = random.Next(4) == 0 ? 20 : random.Next(1, 4);
        var builder = new StringBuilder();
        for (var s = 0; s < segments; s++)
        {
            if (s > 0)
            {
                builder.Append('/');
            }

            // Mostly letters; now and then any byte, escaped (NUL and control characters included).
            var length = random.Next(1, 100);
            for (var i = 0; i < length; i++)
            {
                builder.Append(random.Next(20) == 0
                    ? "%" + random.Next(256).ToString("X2", System.Globalization.CultureInfo.InvariantCulture)
                    : ((char)('a' + random.Next(26))).ToString());
            }
        }

        return builder.ToString();
    }
}
