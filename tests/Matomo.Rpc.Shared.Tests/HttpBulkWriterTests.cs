using System.Diagnostics;
using System.Net;
using Matomo.Rpc.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>The real sender and bulk writer (real clock, short intervals) against the Matomo stand-in over loopback HTTP.</summary>
[TestFixture]
public class HttpBulkWriterTests : StandInSenderTests
{
    private Task<MatomoTracker> StartHostAsync(Action<MatomoOptions>? configure = null, Action<MatomoTrackingBuilder>? tracking = null) =>
        StartHostAsync(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.Sending.BatchSize = 10;
            o.Check.Enabled = false; // these tests count the sender's requests; MatomoSiteCheckTests covers the check's
            o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
            o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
            o.Sending.RetryMaxDelay = TimeSpan.FromMilliseconds(400);
            o.Sending.HttpTimeout = TimeSpan.FromSeconds(5);
        }, configure, tracking is null ? null : (matomo, _) => tracking(matomo));

    private static void Track(MatomoTracker tracker, string action, MatomoCallerInfo? caller = null)
    {
        var call = tracker.StartCall(action, MatomoCallKind.Unary)!;
        call.SetCaller(caller ?? new MatomoCallerInfo { Host = "api.example.org", RemoteAddress = IPAddress.Parse("198.51.100.7"), UserAgent = "grpc-dotnet/2.80" });
        call.Complete();
    }

    private static async Task WaitUntilAsync(Func<bool> done)
    {
        var watch = Stopwatch.StartNew();
        while (!done())
        {
            Assert.That(watch.Elapsed, Is.LessThan(Timeout), "condition not reached");
            await Task.Delay(10);
        }
    }

    [Test]
    public async Task Send_QueuedTracking_CountedSentAndAcceptedWithoutCountAndAllStoredOnceProcessed()
    {
        StandIn.QueuedTracking = true;
        var tracker = await StartHostAsync();

        for (var i = 0; i < 25; i++)
        {
            Track(tracker, "greet.Greeter/Say" + i);
        }

        await WaitUntilAsync(() => tracker.Statistics.Sent == 25);
        var stored = StandIn.ProcessQueue();

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.AcceptedWithoutCount, stats.Rejected, stats.Dropped), Is.EqualTo((25L, 25L, 0L, 0L)), stats.ToString());
        Assert.That(stored, Is.EqualTo(25), "what was counted sent is what Matomo stores once its queue is processed");
        Assert.That(StandIn.Requests, Has.All.Property(nameof(ReceivedRequest.StatusCode)).EqualTo(200));
        Assert.That(Logs.Entries.Count(e => e.EventId.Name == "MatomoQueuesHits"), Is.EqualTo(1), "said once that Matomo queues hits");
        Assert.That(Logs.Entries.Select(e => e.EventId.Name), Has.None.EqualTo("UnexpectedAnswer"));
    }

    [Test]
    public async Task Send_QueuedTrackingWithItsRedisDown_RetriesTheWholeBatchWithoutSplittingUntilItIsBack()
    {
        StandIn.QueuedTracking = true;
        StandIn.QueueBackendDown = true;
        var tracker = await StartHostAsync();

        for (var i = 0; i < 10; i++)
        {
            Track(tracker, "greet.Greeter/Say" + i);
        }

        await WaitUntilAsync(() => StandIn.Requests.Count >= 3);
        var whileDown = tracker.Statistics;
        var requestsWhileDown = StandIn.Requests;
        StandIn.QueueBackendDown = false;
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);
        var stored = StandIn.ProcessQueue();

        Assert.That(requestsWhileDown.Take(3), Has.All.Property(nameof(ReceivedRequest.StatusCode)).EqualTo(500));
        Assert.That(requestsWhileDown.Take(3).Select(r => System.Text.RegularExpressions.Regex.Count(r.Body, "\\?idsite=")), Has.All.EqualTo(10), "the same batch again, never split");
        Assert.That((whileDown.Sent, whileDown.Rejected, whileDown.Dropped), Is.EqualTo((0L, 0L, 0L)), "kept while the queue is down: " + whileDown);
        Assert.That(whileDown.Retried, Is.GreaterThanOrEqualTo(2));
        Assert.That(Logs.Entries.Select(e => e.EventId.Name), Has.None.EqualTo("BatchRolledBack").And.None.EqualTo("PoisonedHitDropped"));
        Assert.That(stored, Is.EqualTo(10));
    }

    [Test]
    public async Task Send_Hits_StoredWithTrackedEqualToSent()
    {
        var tracker = await StartHostAsync();

        for (var i = 0; i < 25; i++)
        {
            Track(tracker, "greet.Greeter/Say" + i);
        }

        var hits = await StandIn.WaitForHitsAsync(25, Timeout);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 25);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(Enumerable.Range(0, 25).Select(i => "greet.Greeter/Say" + i)));
        Assert.That(hits[0]["url"], Is.EqualTo("https://api.example.org/greet.Greeter/Say0"));
        Assert.That(hits[0]["ua"], Is.EqualTo("grpc-dotnet/2.80"));
        Assert.That(hits[0].CustomVariables, Is.EqualTo(new KeyValuePair<string, string>[] { new("status", "ok"), new("kind", "unary") }));
        Assert.That(hits[0].CustomVariablesDropped, Is.False);
        Assert.That(hits[0].ServerTimeMs, Is.Not.Null);
        Assert.That(hits.Select(h => h["cid"]).Distinct().Count(), Is.EqualTo(1), "one caller, one visitor");
        Assert.That(StandIn.Requests, Has.All.Property(nameof(ReceivedRequest.StatusCode)).EqualTo(200));
        Assert.That(StandIn.Requests, Has.All.Property(nameof(ReceivedRequest.Method)).EqualTo("POST"));
        Assert.That(tracker.Statistics.Rejected, Is.Zero);
    }

    [Test]
    public async Task Send_WithToken_TokenOnlyInJsonBodyAndCipAccepted()
    {
        var tracker = await StartHostAsync(o => o.TokenAuth = StandIn.Token);

        Track(tracker, "greet.Greeter/SayHello");
        var hits = await StandIn.WaitForHitsAsync(1, Timeout);

        var request = StandIn.Requests.Single();
        Assert.That(hits[0]["cip"], Is.EqualTo("198.51.100.7"));
        Assert.That(request.TokenInUrl, Is.False);
        Assert.That(request.QueryString, Does.Not.Contain(StandIn.Token));
        Assert.That(request.Body, Does.Contain("\"token_auth\":\"" + StandIn.Token + "\""));
        Assert.That(hits[0].Query, Does.Not.Contain(StandIn.Token), "the token is not repeated in each hit");
        Assert.That(request.ResponseBody, Does.Contain("\"invalid_indices\":[]"), "the token authenticated");
    }

    [Test]
    public async Task Send_UnknownSite_CountedRejectedNothingStored()
    {
        var tracker = await StartHostAsync(o => o.SiteId = 2);

        Track(tracker, "a/b");
        Track(tracker, "a/c");
        await WaitUntilAsync(() => tracker.Statistics.Rejected == 2);

        Assert.That(StandIn.Hits, Is.Empty);
        Assert.That(tracker.Statistics.Sent, Is.Zero);
    }

    [Test]
    public async Task Send_TrackerUrlIsBaseUrl_MatomoPhpAppended()
    {
        var baseUrl = StandIn.TrackerUrl.Replace("matomo.php", string.Empty);
        var tracker = await StartHostAsync(o => o.TrackerUrl = baseUrl);

        Track(tracker, "a/b");
        await StandIn.WaitForHitsAsync(1, Timeout);

        Assert.That(StandIn.Requests.Single().Path, Is.EqualTo("/matomo.php"));
    }

    [Test]
    public async Task Send_TrackerUrlAnswers404_CountedRejectedNotRetried()
    {
        var wrong = StandIn.TrackerUrl.Replace("/matomo.php", "/analytics/matomo.php");
        var tracker = await StartHostAsync(o => o.TrackerUrl = wrong);

        Track(tracker, "a/b");
        Track(tracker, "a/c");
        await WaitUntilAsync(() => tracker.Statistics.Rejected == 2);

        Assert.That(StandIn.Requests.Single().StatusCode, Is.EqualTo(404));
        Assert.That(tracker.Statistics.Retried, Is.Zero);
        Assert.That(StandIn.Hits, Is.Empty);
    }

    [TestCase(503)]
    [TestCase(429)]
    [TestCase(502)]
    public async Task Send_TransientFailureThenRecovery_EveryHitStoredOnce(int status)
    {
        StandIn.FailWith = status;
        var tracker = await StartHostAsync();

        for (var i = 0; i < 5; i++)
        {
            Track(tracker, "a/" + i);
        }

        await WaitUntilAsync(() => StandIn.Requests.Count >= 2);
        StandIn.FailWith = null;
        var hits = await StandIn.WaitForHitsAsync(5, Timeout);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 5);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(Enumerable.Range(0, 5).Select(i => "a/" + i)));
        Assert.That(tracker.Statistics.Retried, Is.GreaterThanOrEqualTo(1));
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
    }

    [Test]
    public async Task Send_MatomoStoppedThenRestarted_EveryQueuedHitOnceInOrder()
    {
        var tracker = await StartHostAsync(o => o.Sending.BatchSize = 3);
        await StandIn.StopAsync().WaitAsync(Timeout);

        for (var i = 0; i < 10; i++)
        {
            Track(tracker, "a/" + i);
        }

        await WaitUntilAsync(() => tracker.Statistics.Retried >= 3);
        await StandIn.RestartAsync().WaitAsync(Timeout);
        var hits = await StandIn.WaitForHitsAsync(10, Timeout);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => "a/" + i)));
        Assert.That(StandIn.Hits, Has.Count.EqualTo(10));
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
    }

    [Test]
    public async Task Send_BulkRequestAnswered400_CountedRejectedNotSplitNotRetried()
    {
        StandIn.FailWith = 400; // a proxy or firewall in front of Matomo that does not let the JSON body through
        var tracker = await StartHostAsync(o =>
        {
            o.Sending.BatchSize = 4;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(30); // one batch of all four, sent when full
        });

        for (var i = 0; i < 4; i++)
        {
            Track(tracker, "a/" + i);
        }

        await WaitUntilAsync(() => tracker.Statistics.Rejected == 4);
        await WaitUntilAsync(() => Logs.Entries.Any(e => e.EventId.Name == "RequestRefused")); // logged just after counting

        Assert.That(StandIn.Requests, Has.Count.EqualTo(1), "splitting cannot help when the body is not taken as a bulk request");
        Assert.That(tracker.Statistics.Retried, Is.Zero);
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
        Assert.That(Logs.Entries.Count(e => e.EventId.Name == "RequestRefused"), Is.EqualTo(1));
        Assert.That(Logs.Entries.Count(e => e.EventId.Name == "BatchRolledBack"), Is.Zero);
    }

    [Test]
    public async Task Send_BatchWithABadHit_MatomoAnswers200AndTheOthersAreStoredWithoutSplitting()
    {
        StandIn.TokenAccess = MatomoTokenAccess.View; // cip needs write access: Matomo counts such a hit as invalid
        var tracker = await StartHostAsync(o =>
        {
            o.Sending.BatchSize = 3;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(30); // one batch of all three, sent when full
            o.TokenAuth = StandIn.Token;
        });
        var withoutAddress = new MatomoCallerInfo { Host = "api.example.org" };

        Track(tracker, "a/0", withoutAddress);
        Track(tracker, "a/1", new MatomoCallerInfo { Host = "api.example.org", RemoteAddress = IPAddress.Parse("198.51.100.7") });
        Track(tracker, "a/2", withoutAddress);
        await WaitUntilAsync(() => tracker.Statistics.Sent + tracker.Statistics.Rejected == 3);

        Assert.That(StandIn.Requests, Has.Count.EqualTo(1));
        Assert.That(StandIn.Hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "a/0", "a/2" }));
        Assert.That(tracker.Statistics.Rejected, Is.EqualTo(1));
    }

    [Test]
    public async Task Send_HandlerOfTheAppThrowsItsOwnException_RetriedAndEveryHitStoredOnce()
    {
        var handler = new ThrowingHandler(failures: 2);
        var tracker = await StartHostAsync(tracking: m => m.HttpClient.AddHttpMessageHandler(() => handler));

        for (var i = 0; i < 3; i++)
        {
            Track(tracker, "a/" + i);
        }

        var hits = await StandIn.WaitForHitsAsync(3, Timeout);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 3);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "a/0", "a/1", "a/2" }));
        Assert.That(tracker.Statistics.Retried, Is.EqualTo(2));
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
        Assert.That(Logs.Entries.Single(e => e.EventId.Name == "SendFailing").Text, Does.Contain("the app's handler timed out"));
    }

    [Test]
    public async Task Send_MatomoDownThenBack_OneWarningWithTheReasonNoStackTraceNoHttpClientLines()
    {
        var tracker = await StartHostAsync();
        await StandIn.StopAsync().WaitAsync(Timeout);

        Track(tracker, "a/0");
        await WaitUntilAsync(() => tracker.Statistics.Retried >= 3);
        await StandIn.RestartAsync().WaitAsync(Timeout);
        await StandIn.WaitForHitsAsync(1, Timeout);
        await WaitUntilAsync(() => Logs.Entries.Any(e => e.EventId.Name == "SendRecovered"));

        var entries = Logs.Entries.Where(e => e.Category.StartsWith("Matomo.Rpc", StringComparison.Ordinal) || e.Category.StartsWith("System.Net.Http", StringComparison.Ordinal)).ToList();
        var warnings = entries.Where(e => e.Level >= LogLevel.Warning).ToList();
        Assert.That(entries.Where(e => e.Category.StartsWith("System.Net.Http.HttpClient.Matomo.Rpc", StringComparison.Ordinal)), Is.Empty);
        Assert.That(warnings.Select(e => e.EventId.Name), Is.EqualTo(new[] { "SendFailing" }));
        Assert.That(warnings[0].Text, Does.Contain("ConnectionError"));
        Assert.That(entries.Where(e => e.Exception is not null), Is.Empty, "no stack trace for a network that fails as networks do");
        Assert.That(entries.Count(e => e.EventId.Name == "SendRecovered"), Is.EqualTo(1));
    }

    [Test]
    public async Task Send_PoisonedHit_IsolatedAndOthersStored()
    {
        StandIn.PoisonWhen = p => p.TryGetValue("action_name", out var a) && a.Contains("poison");
        var tracker = await StartHostAsync(o => o.Sending.BatchSize = 8);

        for (var i = 0; i < 8; i++)
        {
            Track(tracker, i == 5 ? "a/poison" : "a/" + i);
        }

        await WaitUntilAsync(() => tracker.Statistics.Sent + tracker.Statistics.Dropped == 8);

        Assert.That(StandIn.Hits.Select(h => h["action_name"]), Is.EquivalentTo(new[] { "a/0", "a/1", "a/2", "a/3", "a/4", "a/6", "a/7" }));
        Assert.That(tracker.Statistics.Sent, Is.EqualTo(7));
        Assert.That(tracker.Statistics.Dropped, Is.EqualTo(1));
        Assert.That(StandIn.Requests.Count(r => r.StatusCode == 500), Is.GreaterThanOrEqualTo(2));
    }

    [Test]
    public async Task Send_MatomoAnswers500ForAWhile_NoHitLost()
    {
        StandIn.FailWith = 500;
        var tracker = await StartHostAsync(o => o.Sending.BatchSize = 8);

        for (var i = 0; i < 8; i++)
        {
            Track(tracker, "a/" + i);
        }

        await WaitUntilAsync(() => StandIn.Requests.Count >= 8);
        StandIn.FailWith = null;
        var hits = await StandIn.WaitForHitsAsync(8, Timeout);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 8);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(Enumerable.Range(0, 8).Select(i => "a/" + i)));
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
    }

    [Test]
    public async Task Send_ManyHits_ReportsThroughput()
    {
        const int count = 20_000;
        var tracker = await StartHostAsync(o =>
        {
            o.Sending.BatchSize = 100;
            o.Sending.QueueCapacity = count;
        });
        var caller = new MatomoCallerInfo { Host = "api.example.org", RemoteAddress = IPAddress.Parse("198.51.100.7"), UserAgent = "load" };

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            Track(tracker, "greet.Greeter/SayHello", caller);
        }

        var enqueued = watch.Elapsed;
        await StandIn.WaitForHitsAsync(count, TimeSpan.FromSeconds(120));
        var elapsed = watch.Elapsed;

        TestContext.Out.WriteLine($"Sender -> stand-in over loopback: {count} hits in {elapsed.TotalSeconds:F2} s = {count / elapsed.TotalSeconds:F0} hits/s "
            + $"(enqueueing took {enqueued.TotalMilliseconds:F0} ms; {StandIn.Requests.Count} bulk requests).");
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
        Assert.That(StandIn.Hits, Has.Count.EqualTo(count));
    }

    /// <summary>A handler an app might add: it fails the first requests with its own exception, not an HTTP one.</summary>
    private sealed class ThrowingHandler(int failures) : DelegatingHandler
    {
        private int _left = failures;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Interlocked.Decrement(ref _left) >= 0
                ? throw new TimeoutException("the app's handler timed out")
                : base.SendAsync(request, cancellationToken);
    }
}
