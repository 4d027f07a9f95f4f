using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>
/// The reliability suite, written once and run for each adapter through its <see cref="ReliabilityHost"/>: Matomo down
/// then back, Matomo slower than the HTTP timeout, a poisoned batch, shutdown with thousands queued (Matomo up and
/// down), hostile input, and the token never shown. Real hosts, real clients, the Matomo stand-in. An adapter's tests
/// are one line: <c>public sealed class XReliabilityTests : ReliabilityTests&lt;XReliabilityHost&gt;;</c>.
/// </summary>
public abstract class ReliabilityTests<THost>
    where THost : ReliabilityHost, IReliabilityHostFactory
{
    private static readonly TimeSpan Timeout = ReliabilityHost.Timeout;

    /// <summary>The settings every scenario starts from; an adapter's host adds its own, the scenario's come last.</summary>
    private static Action<MatomoOptions> Fast(Action<MatomoOptions> configure) => o =>
    {
        o.AllowTokenOverHttp = true;
        o.Sending.FlushInterval = TimeSpan.FromMilliseconds(20);
        o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
        o.Sending.RetryMaxDelay = TimeSpan.FromMilliseconds(200);
        o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(5);
        configure(o);
    };

    private static Task<ReliabilityHost> StartAsync(MatomoStandIn matomo, ReliabilityScenario scenario, Action<MatomoOptions> configure, CapturingLoggerProvider? logs = null, LogLevel minimumLevel = LogLevel.Information) =>
        THost.StartAsync(matomo, scenario, Fast(configure), logs ?? new CapturingLoggerProvider(), minimumLevel);

    private static Task SettledAsync(MatomoTracker tracker, int calls) =>
        Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= calls, Timeout, () => tracker.Statistics.ToString());

    private static Task RetriedAsync(MatomoTracker tracker, int times) =>
        Eventually.TrueAsync(() => tracker.Statistics.Retried >= times, Timeout, () => tracker.Statistics.ToString());

    // ---- Matomo down for a stretch of calls, then back: what fitted in the queue arrives once, in order, at its real time.
    private const int OutageCallers = 4;
    private const int OutageBefore = 5;
    private const int OutageDuring = 50;
    private const int OutageAfter = 5;
    private const int OutageCapacity = 50;
    private const int OutageBatchSize = 10;

    [TestCase(MatomoFullQueuePolicy.DropNewest)]
    [TestCase(MatomoFullQueuePolicy.DropOldest)]
    public async Task Call_MatomoDownThenBack_StoresWhatFittedOnceInOrderAtItsRealTimeAndCountsTheRestAsDropped(MatomoFullQueuePolicy policy)
    {
        const int Before = OutageBefore;
        const int During = OutageDuring;
        const int After = OutageAfter;
        const int Callers = OutageCallers;
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await StartAsync(matomo, ReliabilityScenario.Outage, o =>
        {
            o.Sending.QueueCapacity = OutageCapacity;
            o.Sending.BatchSize = OutageBatchSize;
            o.Sending.FullQueuePolicy = policy;
        });
        var tracker = host.Tracker;
        const int Total = Callers * (Before + During + After);
        await host.ConnectAsync(Callers);
        var before = await host.RunCallersAsync(Callers, 0, Before);
        await matomo.WaitForHitsAsync(Callers * Before, Timeout);

        await matomo.StopAsync().WaitAsync(Timeout);
        var during = await host.RunCallersAsync(Callers, Before, During);
        await RetriedAsync(tracker, 3);
        // Matomo stays down into a later second than any call's end, so that a cdt stamped at send time would show.
        await ClockPastSecondOfAsync(during.Max(c => c.Ended));
        var downFor = DateTimeOffset.UtcNow;
        await matomo.RestartAsync().WaitAsync(Timeout);
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped >= Callers * (Before + During), Timeout, () => tracker.Statistics.ToString());
        var after = await host.RunCallersAsync(Callers, Before + During, After);
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.Sent + s.Dropped + s.Rejected >= Total && s.QueueLength == 0, Timeout, () => tracker.Statistics.ToString());

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        var calls = before.Concat(during).Concat(after).ToDictionary(c => c.Key);
        var keys = hits.Select(host.Key).ToList();
        var outageStored = keys.Count(k => k.Sequence >= Before && k.Sequence < Before + During);
        TestContext.Out.WriteLine($"outage ({policy}): calls={Total} stored={hits.Count} dropped={stats.Dropped} outage-stored={outageStored} retried={stats.Retried}");
        Assert.That(calls, Has.Count.EqualTo(Total), "every call succeeded");
        Assert.That(during.Max(c => c.Duration), Is.LessThan(TimeSpan.FromSeconds(2)), "no call slowed by the outage");
        Assert.That(stats.Dropped, Is.GreaterThan(0), "the outage overflowed the queue");
        Assert.That(Total - hits.Count, Is.EqualTo(stats.Dropped), "calls - stored == dropped");
        Assert.That(stats.Sent, Is.EqualTo(hits.Count));
        Assert.That(stats.Rejected, Is.Zero);
        Assert.That(keys, Is.Unique, "each hit stored once");
        Assert.That(keys.All(calls.ContainsKey), Is.True, "only hits of real calls");
        Assert.That(outageStored, Is.InRange(OutageCapacity, OutageCapacity + OutageBatchSize), "the queue plus the batch in hand were kept");
        foreach (var caller in calls.Keys.Select(k => k.Caller).Distinct())
        {
            var sequences = keys.Where(k => k.Caller == caller).Select(k => k.Sequence).ToList();
            Assert.That(sequences, Is.Ordered, $"{caller}'s hits in call order");
            Assert.That(sequences.Where(s => s < Before || s >= Before + During), Is.EqualTo(Enumerable.Range(0, Before).Concat(Enumerable.Range(Before + During, After))), $"{caller}: all before and after the outage");

            // While Matomo is down the sender holds its first batch and the full queue stays full: what is lost is one
            // run of calls, the newest (DropNewest: the outage's calls kept are a prefix) or those between the batch in
            // hand and the newest (DropOldest).
            var missing = Enumerable.Range(Before, During).Except(sequences).ToList();
            if (missing.Count > 0)
            {
                Assert.That(missing, Is.EqualTo(Enumerable.Range(missing[0], missing.Count)), $"{caller}: the calls lost are one run");
                if (policy == MatomoFullQueuePolicy.DropNewest)
                {
                    Assert.That(missing[^1], Is.EqualTo(Before + During - 1), $"{caller}: the newest calls were lost");
                }
            }
        }

        foreach (var hit in hits)
        {
            var call = calls[host.Key(hit)];
            Assert.That(hit["action_name"], Is.EqualTo(host.CallAction));
            Assert.That(hit.Has("cdt"), Is.True);
            Assert.That(hit.Time, Is.InRange(call.Started.FloorToSecond(), call.Ended), $"cdt of {host.Key(hit)} is the call's end");
        }

        Assert.That(hits.Where(h => host.Key(h).Sequence < Before + During).Max(h => h.Time), Is.LessThan(downFor.FloorToSecond()), "not the send time");
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }

    // ---- Matomo answering slower than the HTTP timeout, then normally again.
    [Test]
    public async Task Call_MatomoSlowerThanHttpTimeoutThenFast_CallsUnaffectedAndEveryHitStored()
    {
        const int Callers = 4;
        const int PerCaller = 10;
        const int BatchSize = 10;
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await StartAsync(matomo, ReliabilityScenario.SlowMatomo, o =>
        {
            o.Sending.HttpTimeout = TimeSpan.FromMilliseconds(200);
            o.Sending.BatchSize = BatchSize;
        });
        var tracker = host.Tracker;
        const int Total = Callers * PerCaller;
        await host.ConnectAsync(Callers);
        matomo.Latency = TimeSpan.FromSeconds(2);

        var calls = await host.RunCallersAsync(Callers, 0, PerCaller);
        await RetriedAsync(tracker, 3);
        var fastAgain = DateTimeOffset.UtcNow;
        matomo.Latency = TimeSpan.Zero;
        await SettledAsync(tracker, Total);

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        var keys = hits.Select(host.Key).ToList();
        var distinct = keys.Distinct().ToList();
        TestContext.Out.WriteLine($"slow: calls={Total} stored={hits.Count} distinct={distinct.Count} dropped={stats.Dropped} retried={stats.Retried}");
        Assert.That(calls.Max(c => c.Duration), Is.LessThan(TimeSpan.FromSeconds(2)), "no call waited for Matomo");
        Assert.That(distinct, Is.EquivalentTo(calls.Select(c => c.Key)), "no hit lost");
        Assert.That(stats.Dropped, Is.Zero);
        Assert.That(stats.Rejected, Is.Zero);
        Assert.That(stats.Sent, Is.EqualTo(Total), "each hit counted as tracked once, by the answer that came in time");

        // At-least-once: a request that timed out on our side may still have been stored by Matomo, and its hits are sent
        // again (the stand-in, like Matomo, stores before it answers). So duplicates are possible, but only of hits whose
        // request timed out: each retry repeats one such request of at most one batch, and once Matomo answers in time
        // no hit is stored twice.
        Assert.That(hits.Count - distinct.Count, Is.LessThanOrEqualTo(stats.Retried * BatchSize));
        Assert.That(hits.Where(h => h.ReceivedAt >= fastAgain).GroupBy(host.Key).Where(g => g.Count() > 1).Select(g => g.Key), Is.Empty);
        Assert.That(keys.GroupBy(k => k.Caller).Select(g => g.Select(k => k.Sequence).Distinct()), Has.All.Ordered, "order per caller");
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }

    // ---- One hit that makes Matomo roll back its whole batch costs only that hit.
    [Test]
    public async Task Call_OneHitRollsBackItsBatch_AllOtherHitsOfTheBatchStoredAndOneDropped()
    {
        const int Callers = 6;
        const int PerCaller = 4;
        const int Calls = (Callers * PerCaller) + 1;
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        var logs = new CapturingLoggerProvider();
        await using var host = await StartAsync(matomo, ReliabilityScenario.PoisonedBatch, o =>
        {
            // The batch fills up with all the calls well before the interval ends: all travel in one request.
            o.Sending.BatchSize = Calls;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(20);
        }, logs);
        matomo.PoisonWhen = p => p.TryGetValue(host.PoisonParameter, out var v) && v == "poison";
        var tracker = host.Tracker;
        await host.ConnectAsync(Callers);

        var normal = host.RunCallersAsync(Callers, 0, PerCaller);
        await host.PoisonCallAsync().WaitAsync(Timeout);
        var calls = await normal;
        await SettledAsync(tracker, Calls);

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        var first = matomo.Requests.First(r => r.Path == "/matomo.php" && r.Method == "POST");
        TestContext.Out.WriteLine($"poison: calls={Calls} stored={hits.Count} dropped={stats.Dropped} requests={matomo.Requests.Count}");
        Assert.That(calls, Has.Count.EqualTo(Calls - 1));
        Assert.That(first.StatusCode, Is.EqualTo(500), "Matomo rolled the batch back");
        Assert.That(JsonDocument.Parse(first.Body).RootElement.GetProperty("requests").GetArrayLength(), Is.EqualTo(Calls), "one batch");
        Assert.That(hits.Select(host.Key), Is.EquivalentTo(calls.Select(c => c.Key)), "every other hit of the batch stored");
        Assert.That(stats.Dropped, Is.EqualTo(1));
        Assert.That(stats.Sent, Is.EqualTo(Calls - 1));
        Assert.That(stats.Rejected, Is.Zero);
        Assert.That(logs.Entries.Count(e => e.EventId.Name == "PoisonedHitDropped"), Is.EqualTo(1));
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }

    // ---- Stopping the host with thousands of hits queued: delivered with Matomo up, counted as dropped with Matomo down, by the deadline.
    private const int ShutdownCallers = 20;
    private const int ShutdownPerCaller = 150;
    private const int ShutdownTotal = ShutdownCallers * ShutdownPerCaller;

    [Test]
    public async Task StopAsync_ThousandsQueuedAndMatomoUp_DeliversEveryHitWithinShutdownTimeout()
    {
        var shutdownTimeout = TimeSpan.FromSeconds(10);
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await StartAsync(matomo, ReliabilityScenario.Shutdown, o =>
        {
            o.Sending.HttpTimeout = TimeSpan.FromSeconds(10);
            o.Sending.ShutdownTimeout = shutdownTimeout;
        });
        var tracker = host.Tracker;
        await host.ConnectAsync(ShutdownCallers);
        // A slow Matomo holds the sender on its first request while the calls fill the queue.
        matomo.Latency = TimeSpan.FromSeconds(3);
        var calls = await host.RunCallersAsync(ShutdownCallers, 0, ShutdownPerCaller);
        var queued = tracker.Statistics.QueueLength;
        matomo.Latency = TimeSpan.Zero;

        var clock = Stopwatch.StartNew();
        await host.StopAsync().WaitAsync(Timeout);
        var stoppedIn = clock.Elapsed;

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        TestContext.Out.WriteLine($"shutdown (Matomo up): calls={ShutdownTotal} queued-at-stop={queued} stored={hits.Count} dropped={stats.Dropped} stopped-in={stoppedIn}");
        Assert.That(calls, Has.Count.EqualTo(ShutdownTotal));
        Assert.That(queued, Is.GreaterThanOrEqualTo(1000), "thousands of hits were waiting when the host stopped");
        Assert.That(stoppedIn, Is.LessThan(shutdownTimeout));
        Assert.That(hits.Select(host.Key), Is.Unique);
        Assert.That(hits, Has.Count.EqualTo(ShutdownTotal));
        Assert.That(stats.Sent, Is.EqualTo(ShutdownTotal));
        Assert.That(stats.Dropped, Is.Zero);
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
    }

    [Test]
    public async Task StopAsync_ThousandsQueuedAndMatomoDown_EndsByTheDeadlineAndCountsTheUndeliveredAsDropped()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        var logs = new CapturingLoggerProvider();
        await using var host = await StartAsync(matomo, ReliabilityScenario.Shutdown, o => o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(1), logs);
        var tracker = host.Tracker;
        await host.ConnectAsync(ShutdownCallers);
        await matomo.StopAsync().WaitAsync(Timeout);
        var calls = await host.RunCallersAsync(ShutdownCallers, 0, ShutdownPerCaller);
        await RetriedAsync(tracker, 2);

        var clock = Stopwatch.StartNew();
        await host.StopAsync().WaitAsync(Timeout);
        var stoppedIn = clock.Elapsed;

        var stats = tracker.Statistics;
        TestContext.Out.WriteLine($"shutdown (Matomo down): calls={ShutdownTotal} stored={matomo.Hits.Count} dropped={stats.Dropped} stopped-in={stoppedIn}");
        Assert.That(calls, Has.Count.EqualTo(ShutdownTotal));
        Assert.That(stoppedIn, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(matomo.Hits, Is.Empty);
        Assert.That(stats.Sent, Is.Zero);
        Assert.That(stats.Dropped, Is.EqualTo(ShutdownTotal), "every undelivered hit counted as dropped");
        Assert.That(stats.QueueLength, Is.Zero);
        Assert.That(logs.Entries.Count(e => e.EventId.Name == "ShutdownDropped"), Is.EqualTo(1));
    }

    // ---- Hostile callers and hostile per-call values: no call fails because of tracking, every hit Matomo receives is valid per MATOMO.md.
    [Test]
    public async Task Call_HostileCallersAndValues_NoCallFailsAndEveryHitIsValid()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        var logs = new CapturingLoggerProvider();
        await using var host = await StartAsync(matomo, ReliabilityScenario.HostileInput, o => o.Sending.BatchSize = 50, logs);
        var tracker = host.Tracker;

        var run = await host.RunHostileCallersAsync();
        Assert.That(run.Failures, Is.Empty, "no call failed");
        await SettledAsync(tracker, run.ExpectedHits);

        var stats = tracker.Statistics;
        var hits = matomo.Hits;
        TestContext.Out.WriteLine($"hostile: calls={run.Calls} expected hits={run.ExpectedHits} stored={hits.Count} sent={stats.Sent} rejected={stats.Rejected} dropped={stats.Dropped} requests={matomo.Requests.Count}");
        Assert.That(stats.Rejected, Is.Zero, "tracked == sent: Matomo found nothing invalid");
        Assert.That(stats.Dropped, Is.Zero);
        Assert.That(stats.Sent, Is.EqualTo(run.ExpectedHits));
        Assert.That(hits, Has.Count.EqualTo(run.ExpectedHits));
        Assert.That(MatomoHitChecks.Problems(matomo), Is.Empty);
        Assert.That(logs.Entries.Where(e => e.EventId.Name == "CompleteFailed" || e.EventId.Name == "SenderFailed" || e.EventId.Name == host.TrackingFailedEvent).Select(e => e.EventId.Name), Is.Empty);
        await host.AssertHostileOutcomeAsync(run, hits);
    }

    // ---- The token never shows: not in a log line at any level, an exception message, or a URL Matomo received.
    [Test]
    public async Task TokenAuth_OutageErrorAnswersFailingCallsAndServiceCode_NeverInLogsExceptionsOrUrls()
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        var token = matomo.Token;
        var logs = new CapturingLoggerProvider();
        var failures = new List<string>();
        var exceptions = new List<string>();
        await using var host = await StartAsync(matomo, ReliabilityScenario.Secrets, o => o.TokenAuth = token, logs, LogLevel.Trace);
        var tracker = host.Tracker;
        await host.ConnectAsync(2);
        var seq = 0;
        var calls = 0;

        // Five hits: four calls and one that fails in the service.
        async Task CallsAsync()
        {
            await host.RunCallersAsync(2, seq, 2);
            seq += 2;
            failures.Add(await host.FailingCallAsync().WaitAsync(Timeout));
            calls += 5;
        }

        await CallsAsync();
        await SettledAsync(tracker, 5);
        await matomo.StopAsync().WaitAsync(Timeout);
        await CallsAsync();
        await RetriedAsync(tracker, 2);
        await matomo.RestartAsync().WaitAsync(Timeout);
        await SettledAsync(tracker, 10);
        matomo.FailWith = 401;
        await CallsAsync();
        await SettledAsync(tracker, 15);
        matomo.FailWith = 500;
        await CallsAsync();
        await SettledAsync(tracker, 20);
        matomo.FailWith = null;
        await host.CallAsync(ReliabilityHost.CallerName(0), seq++);
        calls++;
        calls += await host.HandTokenToServiceCodeAsync(token, exceptions);
        await SettledAsync(tracker, calls);

        // Code handing the token to the core's per-call API directly: refused, and the refusal does not repeat it.
        var direct = new List<string>();
        var call = tracker.StartCall("Direct/Call", MatomoCallKind.Unary)!.Call;
        foreach (var name in new[] { "token_auth", "cid", "_id", "pf_srv", "cip", "cdt" })
        {
            try
            {
                call.SetVar(name, token);
            }
            catch (ArgumentException ex)
            {
                direct.Add(ex.ToString());
            }
        }

        call.Skip();
        await host.StopAsync().WaitAsync(Timeout);

        var stats = tracker.Statistics;
        var captured = logs.Entries;
        exceptions.AddRange(failures);
        exceptions.AddRange(direct);
        TestContext.Out.WriteLine($"secrets: calls={calls} stored={matomo.Hits.Count} sent={stats.Sent} rejected={stats.Rejected} dropped={stats.Dropped} logs={captured.Count} exceptions={exceptions.Count} requests={matomo.Requests.Count}");
        Assert.That(stats.Rejected, Is.EqualTo(5), "the 401 answers were seen");
        Assert.That(stats.Dropped, Is.EqualTo(5), "the 500 answers were seen");
        Assert.That(failures, Has.Count.EqualTo(4), "each failing call failed");
        Assert.That(direct, Has.Count.EqualTo(6), "each reserved name refused");
        Assert.That(captured.Count(l => l.Level == LogLevel.Trace), Is.GreaterThan(0), "trace logging was captured");
        Assert.That(captured.Where(l => l.Contains(token)).Select(l => l.Category + ": " + l.Text), Is.Empty);
        Assert.That(exceptions.Where(e => e.Contains(token, StringComparison.OrdinalIgnoreCase)), Is.Empty);
        Assert.That(matomo.Requests.Where(r => r.TokenInUrl || (r.Path + r.QueryString).Contains(token, StringComparison.OrdinalIgnoreCase)), Is.Empty);
        Assert.That(matomo.Hits.Where(h => h.Query.Contains(token, StringComparison.OrdinalIgnoreCase)), Is.Empty);
        Assert.That(matomo.Hits.Count(h => h.Has("cip")), Is.EqualTo(matomo.Hits.Count).And.EqualTo(calls - 10), "the token was used (cip needs it)");
    }

    [TestCase("http://127.0.0.1:1/matomo.php?token_auth={0}", "{0}")]
    [TestCase("http://user:{0}@127.0.0.1:1/matomo.php", "{0}")]
    [TestCase("http://matomo.example.org/matomo.php", "{0}")]
    [TestCase("http://127.0.0.1:1/matomo.php", " {0} ")]
    [TestCase("http://127.0.0.1:1/matomo.php", "{0}\n")]
    public async Task StartAsync_InvalidOptionsWithToken_FailsValidationWithoutTheToken(string trackerUrl, string tokenAuth)
    {
        const string Token = "c0ffee0123456789abcdef0123456789";
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        var logs = new CapturingLoggerProvider();
        string? failure = null;

        try
        {
            await using var host = await THost.StartAsync(matomo, ReliabilityScenario.Secrets, o =>
            {
                o.TrackerUrl = string.Format(CultureInfo.InvariantCulture, trackerUrl, Token);
                o.SiteId = 1;
                o.AllowTokenOverHttp = false;
                o.TokenAuth = string.Format(CultureInfo.InvariantCulture, tokenAuth, Token);
            }, logs, LogLevel.Trace);
        }
        catch (Exception ex)
        {
            failure = ex.ToString();
        }

        Assert.That(failure, Is.Not.Null.And.Contains("Matomo:"), "validation failed at start, naming the setting");
        Assert.That(failure, Does.Not.Contain(Token));
        Assert.That(logs.Entries.Where(l => l.Contains(Token)).Select(l => l.Text), Is.Empty);
    }

    /// <summary>Waits until the clock shows a later whole second than <paramref name="time"/>: the time itself is what is waited for.</summary>
    private static async Task ClockPastSecondOfAsync(DateTimeOffset time)
    {
        var next = time.FloorToSecond().AddSeconds(1);
        while (DateTimeOffset.UtcNow < next)
        {
            await Task.Delay(next - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(1));
        }
    }
}
