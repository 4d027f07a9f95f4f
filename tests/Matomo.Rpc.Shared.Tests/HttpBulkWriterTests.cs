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
public class HttpBulkWriterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private CapturingLoggerProvider _logs = null!;
    private MatomoStandIn _matomo = null!;
    private IHost? _host;

    [SetUp]
    public async Task SetUp()
    {
        _logs = new CapturingLoggerProvider();
        _matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
    }

    [TearDown]
    public async Task TearDown()
    {
        if (_host is not null)
        {
            await _host.StopAsync().WaitAsync(Timeout);
            _host.Dispose();
            _host = null;
        }

        await _matomo.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    private async Task<MatomoTracker> StartHostAsync(Action<MatomoOptions>? configure = null, Action<MatomoTrackingBuilder>? tracking = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Trace).AddProvider(_logs);
        var matomo = builder.Services.AddMatomoTracking(o =>
        {
            o.TrackerUrl = _matomo.TrackerUrl;
            o.SiteId = _matomo.SiteId;
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.Sending.BatchSize = 10;
            o.Check.Enabled = false; // these tests count the sender's requests; MatomoSiteCheckTests covers the check's
            o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
            o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
            o.Sending.RetryMaxDelay = TimeSpan.FromMilliseconds(400);
            o.Sending.HttpTimeout = TimeSpan.FromSeconds(5);
            configure?.Invoke(o);
        });
        tracking?.Invoke(matomo);
        _host = builder.Build();
        await _host.StartAsync().WaitAsync(Timeout);
        return _host.Services.GetRequiredService<MatomoTracker>();
    }

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
        _matomo.QueuedTracking = true;
        var tracker = await StartHostAsync();

        for (var i = 0; i < 25; i++)
        {
            Track(tracker, "greet.Greeter/Say" + i);
        }

        await WaitUntilAsync(() => tracker.Statistics.Sent == 25);
        var stored = _matomo.ProcessQueue();

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.AcceptedWithoutCount, stats.Rejected, stats.Dropped), Is.EqualTo((25L, 25L, 0L, 0L)), stats.ToString());
        Assert.That(stored, Is.EqualTo(25), "what was counted sent is what Matomo stores once its queue is processed");
        Assert.That(_matomo.Requests, Has.All.Property(nameof(ReceivedRequest.StatusCode)).EqualTo(200));
        Assert.That(_logs.Entries.Count(e => e.EventId.Name == "MatomoQueuesHits"), Is.EqualTo(1), "said once that Matomo queues hits");
        Assert.That(_logs.Entries.Select(e => e.EventId.Name), Has.None.EqualTo("UnexpectedAnswer"));
    }

    [Test]
    public async Task Send_QueuedTrackingWithItsRedisDown_RetriesTheWholeBatchWithoutSplittingUntilItIsBack()
    {
        _matomo.QueuedTracking = true;
        _matomo.QueueBackendDown = true;
        var tracker = await StartHostAsync();

        for (var i = 0; i < 10; i++)
        {
            Track(tracker, "greet.Greeter/Say" + i);
        }

        await WaitUntilAsync(() => _matomo.Requests.Count >= 3);
        var whileDown = tracker.Statistics;
        var requestsWhileDown = _matomo.Requests;
        _matomo.QueueBackendDown = false;
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);
        var stored = _matomo.ProcessQueue();

        Assert.That(requestsWhileDown.Take(3), Has.All.Property(nameof(ReceivedRequest.StatusCode)).EqualTo(500));
        Assert.That(requestsWhileDown.Take(3).Select(r => System.Text.RegularExpressions.Regex.Count(r.Body, "\\?idsite=")), Has.All.EqualTo(10), "the same batch again, never split");
        Assert.That((whileDown.Sent, whileDown.Rejected, whileDown.Dropped), Is.EqualTo((0L, 0L, 0L)), "kept while the queue is down: " + whileDown);
        Assert.That(whileDown.Retried, Is.GreaterThanOrEqualTo(2));
        Assert.That(_logs.Entries.Select(e => e.EventId.Name), Has.None.EqualTo("BatchRolledBack").And.None.EqualTo("PoisonedHitDropped"));
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

        var hits = await _matomo.WaitForHitsAsync(25, Timeout);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 25);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(Enumerable.Range(0, 25).Select(i => "greet.Greeter/Say" + i)));
        Assert.That(hits[0]["url"], Is.EqualTo("https://api.example.org/greet.Greeter/Say0"));
        Assert.That(hits[0]["ua"], Is.EqualTo("grpc-dotnet/2.80"));
        Assert.That(hits[0].CustomVariables, Is.EqualTo(new KeyValuePair<string, string>[] { new("status", "ok"), new("kind", "unary") }));
        Assert.That(hits[0].CustomVariablesDropped, Is.False);
        Assert.That(hits[0].ServerTimeMs, Is.Not.Null);
        Assert.That(hits.Select(h => h["cid"]).Distinct().Count(), Is.EqualTo(1), "one caller, one visitor");
        Assert.That(_matomo.Requests, Has.All.Property(nameof(ReceivedRequest.StatusCode)).EqualTo(200));
        Assert.That(_matomo.Requests, Has.All.Property(nameof(ReceivedRequest.Method)).EqualTo("POST"));
        Assert.That(tracker.Statistics.Rejected, Is.Zero);
    }

    [Test]
    public async Task Send_WithToken_TokenOnlyInJsonBodyAndCipAccepted()
    {
        var tracker = await StartHostAsync(o => o.TokenAuth = _matomo.Token);

        Track(tracker, "greet.Greeter/SayHello");
        var hits = await _matomo.WaitForHitsAsync(1, Timeout);

        var request = _matomo.Requests.Single();
        Assert.That(hits[0]["cip"], Is.EqualTo("198.51.100.7"));
        Assert.That(request.TokenInUrl, Is.False);
        Assert.That(request.QueryString, Does.Not.Contain(_matomo.Token));
        Assert.That(request.Body, Does.Contain("\"token_auth\":\"" + _matomo.Token + "\""));
        Assert.That(hits[0].Query, Does.Not.Contain(_matomo.Token), "the token is not repeated in each hit");
        Assert.That(request.ResponseBody, Does.Contain("\"invalid_indices\":[]"), "the token authenticated");
    }

    [Test]
    public async Task Send_UnknownSite_CountedRejectedNothingStored()
    {
        var tracker = await StartHostAsync(o => o.SiteId = 2);

        Track(tracker, "a/b");
        Track(tracker, "a/c");
        await WaitUntilAsync(() => tracker.Statistics.Rejected == 2);

        Assert.That(_matomo.Hits, Is.Empty);
        Assert.That(tracker.Statistics.Sent, Is.Zero);
    }

    [Test]
    public async Task Send_TrackerUrlIsBaseUrl_MatomoPhpAppended()
    {
        var baseUrl = _matomo.TrackerUrl.Replace("matomo.php", string.Empty);
        var tracker = await StartHostAsync(o => o.TrackerUrl = baseUrl);

        Track(tracker, "a/b");
        await _matomo.WaitForHitsAsync(1, Timeout);

        Assert.That(_matomo.Requests.Single().Path, Is.EqualTo("/matomo.php"));
    }

    [Test]
    public async Task Send_TrackerUrlAnswers404_CountedRejectedNotRetried()
    {
        var wrong = _matomo.TrackerUrl.Replace("/matomo.php", "/analytics/matomo.php");
        var tracker = await StartHostAsync(o => o.TrackerUrl = wrong);

        Track(tracker, "a/b");
        Track(tracker, "a/c");
        await WaitUntilAsync(() => tracker.Statistics.Rejected == 2);

        Assert.That(_matomo.Requests.Single().StatusCode, Is.EqualTo(404));
        Assert.That(tracker.Statistics.Retried, Is.Zero);
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [TestCase(503)]
    [TestCase(429)]
    [TestCase(502)]
    public async Task Send_TransientFailureThenRecovery_EveryHitStoredOnce(int status)
    {
        _matomo.FailWith = status;
        var tracker = await StartHostAsync();

        for (var i = 0; i < 5; i++)
        {
            Track(tracker, "a/" + i);
        }

        await WaitUntilAsync(() => _matomo.Requests.Count >= 2);
        _matomo.FailWith = null;
        var hits = await _matomo.WaitForHitsAsync(5, Timeout);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 5);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(Enumerable.Range(0, 5).Select(i => "a/" + i)));
        Assert.That(tracker.Statistics.Retried, Is.GreaterThanOrEqualTo(1));
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
    }

    [Test]
    public async Task Send_MatomoStoppedThenRestarted_EveryQueuedHitOnceInOrder()
    {
        var tracker = await StartHostAsync(o => o.Sending.BatchSize = 3);
        await _matomo.StopAsync().WaitAsync(Timeout);

        for (var i = 0; i < 10; i++)
        {
            Track(tracker, "a/" + i);
        }

        await WaitUntilAsync(() => tracker.Statistics.Retried >= 3);
        await _matomo.RestartAsync().WaitAsync(Timeout);
        var hits = await _matomo.WaitForHitsAsync(10, Timeout);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(Enumerable.Range(0, 10).Select(i => "a/" + i)));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(10));
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
    }

    [Test]
    public async Task Send_BulkRequestAnswered400_CountedRejectedNotSplitNotRetried()
    {
        _matomo.FailWith = 400; // a proxy or firewall in front of Matomo that does not let the JSON body through
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
        await WaitUntilAsync(() => _logs.Entries.Any(e => e.EventId.Name == "RequestRefused")); // logged just after counting

        Assert.That(_matomo.Requests, Has.Count.EqualTo(1), "splitting cannot help when the body is not taken as a bulk request");
        Assert.That(tracker.Statistics.Retried, Is.Zero);
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
        Assert.That(_logs.Entries.Count(e => e.EventId.Name == "RequestRefused"), Is.EqualTo(1));
        Assert.That(_logs.Entries.Count(e => e.EventId.Name == "BatchRolledBack"), Is.Zero);
    }

    [Test]
    public async Task Send_BatchWithABadHit_MatomoAnswers200AndTheOthersAreStoredWithoutSplitting()
    {
        _matomo.TokenAccess = MatomoTokenAccess.View; // cip needs write access: Matomo counts such a hit as invalid
        var tracker = await StartHostAsync(o =>
        {
            o.Sending.BatchSize = 3;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(30); // one batch of all three, sent when full
            o.TokenAuth = _matomo.Token;
        });
        var withoutAddress = new MatomoCallerInfo { Host = "api.example.org" };

        Track(tracker, "a/0", withoutAddress);
        Track(tracker, "a/1", new MatomoCallerInfo { Host = "api.example.org", RemoteAddress = IPAddress.Parse("198.51.100.7") });
        Track(tracker, "a/2", withoutAddress);
        await WaitUntilAsync(() => tracker.Statistics.Sent + tracker.Statistics.Rejected == 3);

        Assert.That(_matomo.Requests, Has.Count.EqualTo(1));
        Assert.That(_matomo.Hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "a/0", "a/2" }));
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

        var hits = await _matomo.WaitForHitsAsync(3, Timeout);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 3);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "a/0", "a/1", "a/2" }));
        Assert.That(tracker.Statistics.Retried, Is.EqualTo(2));
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
        Assert.That(_logs.Entries.Single(e => e.EventId.Name == "SendFailing").Text, Does.Contain("the app's handler timed out"));
    }

    [Test]
    public async Task Send_MatomoDownThenBack_OneWarningWithTheReasonNoStackTraceNoHttpClientLines()
    {
        var tracker = await StartHostAsync();
        await _matomo.StopAsync().WaitAsync(Timeout);

        Track(tracker, "a/0");
        await WaitUntilAsync(() => tracker.Statistics.Retried >= 3);
        await _matomo.RestartAsync().WaitAsync(Timeout);
        await _matomo.WaitForHitsAsync(1, Timeout);
        await WaitUntilAsync(() => _logs.Entries.Any(e => e.EventId.Name == "SendRecovered"));

        var entries = _logs.Entries.Where(e => e.Category.StartsWith("Matomo.Rpc", StringComparison.Ordinal) || e.Category.StartsWith("System.Net.Http", StringComparison.Ordinal)).ToList();
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
        _matomo.PoisonWhen = p => p.TryGetValue("action_name", out var a) && a.Contains("poison");
        var tracker = await StartHostAsync(o => o.Sending.BatchSize = 8);

        for (var i = 0; i < 8; i++)
        {
            Track(tracker, i == 5 ? "a/poison" : "a/" + i);
        }

        await WaitUntilAsync(() => tracker.Statistics.Sent + tracker.Statistics.Dropped == 8);

        Assert.That(_matomo.Hits.Select(h => h["action_name"]), Is.EquivalentTo(new[] { "a/0", "a/1", "a/2", "a/3", "a/4", "a/6", "a/7" }));
        Assert.That(tracker.Statistics.Sent, Is.EqualTo(7));
        Assert.That(tracker.Statistics.Dropped, Is.EqualTo(1));
        Assert.That(_matomo.Requests.Count(r => r.StatusCode == 500), Is.GreaterThanOrEqualTo(2));
    }

    [Test]
    public async Task Send_MatomoAnswers500ForAWhile_NoHitLost()
    {
        _matomo.FailWith = 500;
        var tracker = await StartHostAsync(o => o.Sending.BatchSize = 8);

        for (var i = 0; i < 8; i++)
        {
            Track(tracker, "a/" + i);
        }

        await WaitUntilAsync(() => _matomo.Requests.Count >= 8);
        _matomo.FailWith = null;
        var hits = await _matomo.WaitForHitsAsync(8, Timeout);
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
        await _matomo.WaitForHitsAsync(count, TimeSpan.FromSeconds(120));
        var elapsed = watch.Elapsed;

        TestContext.Out.WriteLine($"Sender -> stand-in over loopback: {count} hits in {elapsed.TotalSeconds:F2} s = {count / elapsed.TotalSeconds:F0} hits/s "
            + $"(enqueueing took {enqueued.TotalMilliseconds:F0} ms; {_matomo.Requests.Count} bulk requests).");
        Assert.That(tracker.Statistics.Dropped, Is.Zero);
        Assert.That(_matomo.Hits, Has.Count.EqualTo(count));
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
