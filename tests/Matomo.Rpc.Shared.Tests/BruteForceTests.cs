using System.Diagnostics;
using System.Net;
using System.Text;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// Matomo's brute-force detection (Login plugin): a token Matomo must check and cannot accept is a failed login of the
/// sender's IP, and more than 20 within an hour block the IP. The tracker must never cause that, and must keep its hits
/// and say so when the host is blocked. Against the stand-in, which answers as Matomo 5.0.2 does (seen on the kit).
/// </summary>
[TestFixture]
public class BruteForceTests
{
    private const string UnknownToken = "ffffffffffffffffffffffffffffffff";
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

        Assert.That(_logs.Entries.Where(e => e.Contains(_matomo.Token) || e.Contains(UnknownToken)), Is.Empty, "a token in a log line");
        await _matomo.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [Test]
    public async Task StandIn_UnknownTokenWithCip_AnswersInvalidAndCountsOneFailedLoginPerRequest()
    {
        using var client = new HttpClient();

        var withCip = await PostAsync(client, $$"""{"requests":["?idsite=1&rec=1&url=x&cip=10.1.2.3","?idsite=1&rec=1&url=x&cip=10.1.2.4"],"token_auth":"{{UnknownToken}}"}""");
        var withoutCip = await PostAsync(client, $$"""{"requests":["?idsite=1&rec=1&url=x"],"token_auth":"{{UnknownToken}}"}""");
        var otherSite = await PostAsync(client, $$"""{"requests":["?idsite=9&rec=1&url=x&cip=10.1.2.3"],"token_auth":"{{UnknownToken}}"}""");

        Assert.That(withCip, Is.EqualTo((200, """{"status":"success","tracked":0,"invalid":2}""")));
        Assert.That(withoutCip, Is.EqualTo((200, """{"status":"success","tracked":1,"invalid":0}""")));
        Assert.That(otherSite.Status, Is.EqualTo(200));
        Assert.That(_matomo.FailedLogins, Is.EqualTo(1), "one per request whose token Matomo had to check; none without cip or for an unknown site");
    }

    [Test]
    public async Task StandIn_BlockedIp_Answers500ToRequestsWithATokenAndTracksRequestsWithout()
    {
        _matomo.FailedLogins = 21;
        using var client = new HttpClient();

        var withToken = await PostAsync(client, $$"""{"requests":["?idsite=1&rec=1&url=x&cip=10.1.2.3"],"token_auth":"{{_matomo.Token}}"}""");
        var withoutToken = await PostAsync(client, """{"requests":["?idsite=1&rec=1&url=x"]}""");
        using var api = await client.PostAsync(_matomo.ApiUrl, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["module"] = "API", ["method"] = "API.getMatomoVersion", ["format"] = "json", ["token_auth"] = _matomo.Token,
        }));

        Assert.That(withToken, Is.EqualTo((500, """{"status":"error","tracked":0,"invalid":0}""")));
        Assert.That(withoutToken, Is.EqualTo((200, """{"status":"success","tracked":1,"invalid":0}""")));
        Assert.That((int)api.StatusCode, Is.EqualTo(500));
        Assert.That(await api.Content.ReadAsStringAsync(), Does.Contain("Too many failed logins"));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
    }

    [TestCase(UnknownToken, MatomoTokenAccess.Write)]
    [TestCase(null, MatomoTokenAccess.View)]
    public async Task Send_TokenMatomoRefusesForCip_SendsThoseHitsAgainWithoutCipAndCausesOneFailedLogin(string? token, MatomoTokenAccess access)
    {
        _matomo.TokenAccess = access;
        var tracker = await StartHostAsync(o => o.TokenAuth = token ?? _matomo.Token, health: true);

        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);
        Track(tracker, 20);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 30);

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Rejected, stats.Dropped), Is.EqualTo((30L, 0L, 0L)), "each hit counted once: " + stats);
        Assert.That(_matomo.Hits, Has.Count.EqualTo(30));
        Assert.That(_matomo.Hits.Select(h => h.Parameters.ContainsKey("cip")), Has.All.False, "kept without callers' IPs");
        Assert.That(_matomo.FailedLogins, Is.EqualTo(1), "the first request only; never again");
        var health = (await _host!.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["matomo"];
        Assert.That(health.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(health.Description, Does.Contain("Matomo:TokenAuth"));
        var refused = _logs.Entries.Where(e => e.EventId.Name == "TokenRefused").ToList();
        Assert.That(refused, Has.Count.EqualTo(1));
        Assert.That(refused[0].Level, Is.EqualTo(LogLevel.Error));
        Assert.That(refused[0].Text, Does.Contain("Matomo:TokenAuth").And.Contain("10 hits refused for it only are sent again"));
    }

    [Test]
    public async Task Send_QueuedTrackingRefusesTheTokenForCip_SendsThoseHitsAgainWithoutCipAndCausesOneFailedLogin()
    {
        _matomo.QueuedTracking = true;
        var tracker = await StartHostAsync(o =>
        {
            o.TokenAuth = UnknownToken;
            o.VisitorIdentity = MatomoVisitorIdentity.None; // no cid: the queue checks cip when it takes the request
        });

        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);
        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 20);
        var stored = _matomo.ProcessQueue();

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Rejected, stats.Dropped), Is.EqualTo((20L, 0L, 0L)), "each hit counted once: " + stats);
        Assert.That(stored, Is.EqualTo(20));
        Assert.That(_matomo.Hits.Select(h => h.Parameters.ContainsKey("cip")), Has.All.False);
        Assert.That(_matomo.FailedLogins, Is.EqualTo(1), "QueuedTracking checks cip when it takes a request: the first request only");
        Assert.That(_logs.Entries.Count(e => e.EventId.Name == "TokenRefused"), Is.EqualTo(1));
        Assert.That(_logs.Entries.Select(e => e.EventId.Name), Has.None.EqualTo("RequestRefused"));
    }

    [Test]
    public async Task Send_TokenRefusedBesideHitsWithoutCallerAddress_RejectsTheRefusedAndStopsSendingCip()
    {
        var tracker = await StartHostAsync(o => o.TokenAuth = UnknownToken);

        // One batch of 10: 4 callers with an address (cip), 6 without.
        Track(tracker, 4);
        Track(tracker, 6, address: null);
        await WaitUntilAsync(() => tracker.Statistics.Sent + tracker.Statistics.Rejected == 10);
        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 16);

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Rejected, stats.Dropped), Is.EqualTo((16L, 4L, 0L)), "Matomo does not say which were refused beside stored ones: " + stats);
        Assert.That(_matomo.Hits, Has.Count.EqualTo(16));
        Assert.That(_matomo.FailedLogins, Is.EqualTo(1));
        Assert.That(_logs.Entries.Count(e => e.EventId.Name == "TokenRefused"), Is.EqualTo(1));
    }

    [Test]
    public async Task Send_SiteMatomoRefusesEveryHit_IsNotTakenForARefusedToken()
    {
        var tracker = await StartHostAsync(o =>
        {
            o.TokenAuth = _matomo.Token;
            o.SiteId = _matomo.SiteId + 1;
        });

        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Rejected == 10);

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Rejected, stats.Dropped), Is.EqualTo((0L, 10L, 0L)), "each hit counted once: " + stats);
        Assert.That(_logs.Entries.Select(e => e.EventId.Name), Has.None.EqualTo("TokenRefused").And.Member("HitsRejected"));
        Assert.That(_matomo.FailedLogins, Is.Zero);
    }

    [Test]
    public async Task Send_HostBlocked_KeepsTheHitsSaysSoAndSendsThemWithCipOnceUnblocked()
    {
        _matomo.IpBlocklisted = true;
        var tracker = await StartHostAsync(o => o.TokenAuth = _matomo.Token, health: true);

        Track(tracker, 10);
        await WaitUntilAsync(() => _matomo.Requests.Count(r => r.Body.Contains("&rec=1", StringComparison.Ordinal)) >= 3);
        var whileBlocked = tracker.Statistics;
        var health = await _host!.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        _matomo.IpBlocklisted = false;
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);

        Assert.That((whileBlocked.Sent, whileBlocked.Rejected, whileBlocked.Dropped), Is.EqualTo((0L, 0L, 0L)), "kept while blocked: " + whileBlocked);
        Assert.That(_matomo.Requests.Where(r => r.Body.Contains("&rec=1", StringComparison.Ordinal)).Select(r => r.Body.Split("?idsite=").Length - 1), Has.All.EqualTo(10), "the batch, never split");
        Assert.That(health.Entries["matomo"].Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(health.Entries["matomo"].Description, Does.Contain("brute-force").And.Contain("Unblock"));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(10));
        Assert.That(_matomo.Hits.Select(h => h.Parameters.ContainsKey("cip")), Has.All.True, "a block says nothing about the token");
        var names = _logs.Entries.Select(e => e.EventId.Name).ToList();
        Assert.That(names.Count(n => n == "HostBlocked"), Is.EqualTo(1));
        Assert.That(names, Has.Member("HostUnblocked").And.None.EqualTo("BatchRolledBack").And.None.EqualTo("PoisonedHitDropped"));
        Assert.That(_logs.Entries.Single(e => e.EventId.Name == "HostBlocked").Text, Does.Contain("Login.unblockBruteForceIPs").And.Contain("Matomo:TokenAuth"));
    }

    [Test]
    public async Task Send_PoisonedHitWithAToken_IsStillIsolatedAndNotTakenForABlock()
    {
        _matomo.PoisonWhen = p => p.GetValueOrDefault("action_name")?.EndsWith("Say3", StringComparison.Ordinal) == true;
        var tracker = await StartHostAsync(o => o.TokenAuth = _matomo.Token);

        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent + tracker.Statistics.Dropped == 10);

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Dropped), Is.EqualTo((9L, 1L)), stats.ToString());
        Assert.That(_logs.Entries.Select(e => e.EventId.Name), Has.None.EqualTo("HostBlocked").And.Member("PoisonedHitDropped"));
    }

    [Test]
    public async Task Send_HostBlockedAfterTheBatchsFirstRollbackWasFoundNotToBeABlock_DropsNoHitAsPoisoned()
    {
        var poisoned = "Say" + ((Volatile.Read(ref _calls) + 1) % 10);
        var seen = 0;
        _matomo.PoisonWhen = p =>
        {
            if (p.GetValueOrDefault("action_name")?.EndsWith(poisoned, StringComparison.Ordinal) != true)
            {
                return false;
            }

            // The first request (the poisoned hit first, nothing counted) is probed and found not blocked; while the batch
            // is retried, Matomo begins to block this host (failed logins of another host behind the same IP).
            if (Interlocked.Increment(ref seen) == 2)
            {
                _matomo.IpBlocklisted = true;
            }

            return true;
        };
        var tracker = await StartHostAsync(o => o.TokenAuth = _matomo.Token);

        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Dropped > 0 || _logs.Entries.Any(e => e.EventId.Name == "HostBlocked"));
        var whileBlocked = tracker.Statistics;
        _matomo.IpBlocklisted = false;
        await WaitUntilAsync(() => tracker.Statistics.Sent + tracker.Statistics.Dropped == 10);

        Assert.That(whileBlocked.Dropped, Is.Zero, "no hit dropped as poisoned while Matomo blocks the host: " + whileBlocked);
        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Rejected, stats.Dropped), Is.EqualTo((9L, 0L, 1L)), "the poisoned hit alone is dropped once the block is lifted: " + stats);
        Assert.That(_logs.Entries.Count(e => e.EventId.Name == "PoisonedHitDropped"), Is.EqualTo(1));
    }

    [Test]
    public async Task Check_HostBlocked_ReportsItInMatomosWordsWithTheFixAndKeepsSendingCip()
    {
        _matomo.IpBlocklisted = true;
        await StartHostAsync(o => o.TokenAuth = _matomo.Token);

        var report = await _host!.Services.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);
        _matomo.IpBlocklisted = false;
        Track(_host.Services.GetRequiredService<MatomoTracker>(), 1);
        var stored = await _matomo.WaitForHitsAsync(1, Timeout);

        Assert.That(report.Findings.Where(f => f.Severity == MatomoCheckSeverity.DataLoss).Select(f => f.Code), Is.EqualTo(new[] { "host-blocked" }), report.ToString());
        Assert.That(report.Findings.Single().Message, Does.Contain("Too many failed logins. Please wait and try logging in again later.")
            .And.Contain("Login.unblockBruteForceIPs").And.Contain("allow-list").And.Contain("Matomo:TokenAuth"));
        Assert.That(stored[0].Parameters.ContainsKey("cip"), Is.True, "nothing is known about the token while blocked");
        Assert.That(_matomo.FailedLogins, Is.Zero);
    }

    [Test]
    public async Task Stop_WhileHostBlocked_CountsTheHeldHitsAsDroppedOnceAndProbesAtMostTwicePerAttempt()
    {
        _matomo.IpBlocklisted = true;
        var tracker = await StartHostAsync(o =>
        {
            o.TokenAuth = _matomo.Token;
            o.Sending.ShutdownTimeout = TimeSpan.FromMilliseconds(300);
        });

        Track(tracker, 10);
        await WaitUntilAsync(() => _logs.Entries.Any(e => e.EventId.Name == "HostBlocked"));
        await _host!.StopAsync().WaitAsync(Timeout);
        _host.Dispose();
        _host = null;

        var stats = tracker.Statistics;
        var attempts = _matomo.Requests.Count(r => r.Body.Contains("&rec=1", StringComparison.Ordinal));
        var probes = _matomo.Requests.Count(r => r.Body.Contains("&rec=0", StringComparison.Ordinal));
        Assert.That((stats.Queued, stats.Sent, stats.Rejected, stats.Dropped, stats.QueueLength), Is.EqualTo((10L, 0L, 0L, 10L, 0)), "held hits given up at the deadline, each counted once: " + stats);
        Assert.That(_matomo.Hits, Is.Empty);
        Assert.That(attempts, Is.GreaterThan(0));
        Assert.That(probes, Is.LessThanOrEqualTo(2 * attempts), "one probe pair per rolled-back attempt at most");
        Assert.That(_matomo.FailedLogins, Is.Zero, "neither the batch nor the probes cost a failed login");
    }

    [Test]
    public async Task Health_TokenFixedAndCheckRunAgain_NoLongerSaysCipIsOff()
    {
        _matomo.TokenAccess = MatomoTokenAccess.View;
        var tracker = await StartHostAsync(o => o.TokenAuth = _matomo.Token, health: true);
        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);
        var refused = (await _host!.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["matomo"];

        _matomo.TokenAccess = MatomoTokenAccess.Write; // an admin gives the token's user write access, and the check runs again
        await _host.Services.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);
        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 20);
        var fixedHealth = (await _host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["matomo"];

        Assert.That(refused.Data.ContainsKey("token_refused"), Is.True, refused.Description);
        Assert.That(_matomo.Hits.Skip(10).Select(h => h.Parameters.ContainsKey("cip")), Has.All.True, "cip sent again once the check found the token's rights");
        Assert.That(fixedHealth.Data.ContainsKey("token_refused"), Is.False, "the health check must not say cip is off while it is sent: " + fixedHealth.Description);
        Assert.That(fixedHealth.Status, Is.EqualTo(HealthStatus.Healthy), fixedHealth.Description);
    }

    [Test]
    public async Task Health_BlockLiftedAndCheckRunAgainWithNothingToSend_NoLongerSaysBlocked()
    {
        _matomo.IpBlocklisted = true;
        await StartHostAsync(o => o.TokenAuth = _matomo.Token, health: true);
        var check = _host!.Services.GetRequiredService<MatomoSiteCheck>();
        await check.RunAsync().WaitAsync(Timeout);
        var blocked = (await _host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["matomo"];

        _matomo.IpBlocklisted = false; // a super user unblocks the IP, and the check runs again
        var report = await check.RunAsync().WaitAsync(Timeout);
        var unblocked = (await _host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["matomo"];

        Assert.That(blocked.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(blocked.Description, Does.Contain("brute-force"));
        Assert.That(report.Findings.Select(f => f.Code), Has.None.EqualTo("host-blocked"), report.ToString());
        Assert.That(unblocked.Data.ContainsKey("host_blocked"), Is.False, "Matomo answered the check with the token: not blocked. " + unblocked.Description);
        Assert.That(unblocked.Status, Is.EqualTo(HealthStatus.Healthy), unblocked.Description);
    }

    private async Task<(int Status, string Body)> PostAsync(HttpClient client, string body)
    {
        using var response = await client.PostAsync(_matomo.TrackerUrl, new StringContent(body, Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<MatomoTracker> StartHostAsync(Action<MatomoOptions> configure, bool health = false)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Trace).AddProvider(_logs);
        builder.Services.AddMatomoTracking(o =>
        {
            o.TrackerUrl = _matomo.TrackerUrl;
            o.SiteId = _matomo.SiteId;
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.Sending.BatchSize = 10;
            o.Sending.MaxBatchSize = 10;
            o.Sending.MaxConcurrentRequests = 1;
            o.Check.Enabled = false; // the sender's own behaviour; the check is run by hand where it is tested
            o.Sending.FlushInterval = TimeSpan.FromMilliseconds(200);
            o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
            o.Sending.RetryMaxDelay = TimeSpan.FromMilliseconds(200);
            o.Sending.HttpTimeout = TimeSpan.FromSeconds(5);
            configure(o);
        });
        if (health)
        {
            builder.Services.AddHealthChecks().AddMatomoTracking();
        }

        _host = builder.Build();
        await _host.StartAsync().WaitAsync(Timeout);
        return _host.Services.GetRequiredService<MatomoTracker>();
    }

    private static int _calls;

    private static void Track(MatomoTracker tracker, int count, string? address = "198.51.100.7")
    {
        for (var i = 0; i < count; i++)
        {
            var call = tracker.StartCall("greet.Greeter/Say" + (Interlocked.Increment(ref _calls) % 10), MatomoCallKind.Unary)!;
            call.SetCaller(new MatomoCallerInfo { Host = "api.example.org", RemoteAddress = address is null ? null : IPAddress.Parse(address), UserAgent = "grpc-dotnet/2.80" });
            call.Complete();
        }
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
}
