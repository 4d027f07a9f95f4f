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
public class BruteForceTests : StandInSenderTests
{
    private const string UnknownToken = "ffffffffffffffffffffffffffffffff";
    protected override IEnumerable<string> Secrets => [UnknownToken];

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
        Assert.That(StandIn.FailedLogins, Is.EqualTo(1), "one per request whose token Matomo had to check; none without cip or for an unknown site");
    }

    [Test]
    public async Task StandIn_BlockedIp_Answers500ToRequestsWithATokenAndTracksRequestsWithout()
    {
        StandIn.FailedLogins = 21;
        using var client = new HttpClient();

        var withToken = await PostAsync(client, $$"""{"requests":["?idsite=1&rec=1&url=x&cip=10.1.2.3"],"token_auth":"{{StandIn.Token}}"}""");
        var withoutToken = await PostAsync(client, """{"requests":["?idsite=1&rec=1&url=x"]}""");
        using var api = await client.PostAsync(StandIn.ApiUrl, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["module"] = "API", ["method"] = "API.getMatomoVersion", ["format"] = "json", ["token_auth"] = StandIn.Token,
        }));

        Assert.That(withToken, Is.EqualTo((500, """{"status":"error","tracked":0,"invalid":0}""")));
        Assert.That(withoutToken, Is.EqualTo((200, """{"status":"success","tracked":1,"invalid":0}""")));
        Assert.That((int)api.StatusCode, Is.EqualTo(500));
        Assert.That(await api.Content.ReadAsStringAsync(), Does.Contain("Too many failed logins"));
        Assert.That(StandIn.Hits, Has.Count.EqualTo(1));
    }

    [TestCase(UnknownToken, MatomoTokenAccess.Write)]
    [TestCase(null, MatomoTokenAccess.View)]
    public async Task Send_TokenMatomoRefusesForCip_SendsThoseHitsAgainWithoutCipAndCausesOneFailedLogin(string? token, MatomoTokenAccess access)
    {
        StandIn.TokenAccess = access;
        var tracker = await StartHostAsync(o => o.TokenAuth = token ?? StandIn.Token, health: true);

        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);
        Track(tracker, 20);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 30);

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Rejected, stats.Dropped), Is.EqualTo((30L, 0L, 0L)), "each hit counted once: " + stats);
        Assert.That(StandIn.Hits, Has.Count.EqualTo(30));
        Assert.That(StandIn.Hits.Select(h => h.Parameters.ContainsKey("cip")), Has.All.False, "kept without callers' IPs");
        Assert.That(StandIn.FailedLogins, Is.EqualTo(1), "the first request only; never again");
        var health = (await TestHost!.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["matomo"];
        Assert.That(health.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(health.Description, Does.Contain("Matomo:TokenAuth"));
        var refused = Logs.Entries.Where(e => e.EventId.Name == "TokenRefused").ToList();
        Assert.That(refused, Has.Count.EqualTo(1));
        Assert.That(refused[0].Level, Is.EqualTo(LogLevel.Error));
        Assert.That(refused[0].Text, Does.Contain("Matomo:TokenAuth").And.Contain("10 hits refused for it only are sent again"));
    }

    [Test]
    public async Task Send_QueuedTrackingRefusesTheTokenForCip_SendsThoseHitsAgainWithoutCipAndCausesOneFailedLogin()
    {
        StandIn.QueuedTracking = true;
        var tracker = await StartHostAsync(o =>
        {
            o.TokenAuth = UnknownToken;
            o.VisitorIdentity = MatomoVisitorIdentity.None; // no cid: the queue checks cip when it takes the request
        });

        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);
        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 20);
        var stored = StandIn.ProcessQueue();

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Rejected, stats.Dropped), Is.EqualTo((20L, 0L, 0L)), "each hit counted once: " + stats);
        Assert.That(stored, Is.EqualTo(20));
        Assert.That(StandIn.Hits.Select(h => h.Parameters.ContainsKey("cip")), Has.All.False);
        Assert.That(StandIn.FailedLogins, Is.EqualTo(1), "QueuedTracking checks cip when it takes a request: the first request only");
        Assert.That(Logs.Entries.Count(e => e.EventId.Name == "TokenRefused"), Is.EqualTo(1));
        Assert.That(Logs.Entries.Select(e => e.EventId.Name), Has.None.EqualTo("RequestRefused"));
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
        Assert.That(StandIn.Hits, Has.Count.EqualTo(16));
        Assert.That(StandIn.FailedLogins, Is.EqualTo(1));
        Assert.That(Logs.Entries.Count(e => e.EventId.Name == "TokenRefused"), Is.EqualTo(1));
    }

    [Test]
    public async Task Send_SiteMatomoRefusesEveryHit_IsNotTakenForARefusedToken()
    {
        var tracker = await StartHostAsync(o =>
        {
            o.TokenAuth = StandIn.Token;
            o.SiteId = StandIn.SiteId + 1;
        });

        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Rejected == 10);

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Rejected, stats.Dropped), Is.EqualTo((0L, 10L, 0L)), "each hit counted once: " + stats);
        Assert.That(Logs.Entries.Select(e => e.EventId.Name), Has.None.EqualTo("TokenRefused").And.Member("HitsRejected"));
        Assert.That(StandIn.FailedLogins, Is.Zero);
    }

    [Test]
    public async Task Send_HostBlocked_KeepsTheHitsSaysSoAndSendsThemWithCipOnceUnblocked()
    {
        StandIn.IpBlocklisted = true;
        var tracker = await StartHostAsync(o => o.TokenAuth = StandIn.Token, health: true);

        Track(tracker, 10);
        await WaitUntilAsync(() => StandIn.Requests.Count(r => r.Body.Contains("&rec=1", StringComparison.Ordinal)) >= 3);
        var whileBlocked = tracker.Statistics;
        var health = await TestHost!.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        StandIn.IpBlocklisted = false;
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);

        Assert.That((whileBlocked.Sent, whileBlocked.Rejected, whileBlocked.Dropped), Is.EqualTo((0L, 0L, 0L)), "kept while blocked: " + whileBlocked);
        Assert.That(StandIn.Requests.Where(r => r.Body.Contains("&rec=1", StringComparison.Ordinal)).Select(r => r.Body.Split("?idsite=").Length - 1), Has.All.EqualTo(10), "the batch, never split");
        Assert.That(health.Entries["matomo"].Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(health.Entries["matomo"].Description, Does.Contain("brute-force").And.Contain("Unblock"));
        Assert.That(StandIn.Hits, Has.Count.EqualTo(10));
        Assert.That(StandIn.Hits.Select(h => h.Parameters.ContainsKey("cip")), Has.All.True, "a block says nothing about the token");
        var names = Logs.Entries.Select(e => e.EventId.Name).ToList();
        Assert.That(names.Count(n => n == "HostBlocked"), Is.EqualTo(1));
        Assert.That(names, Has.Member("HostUnblocked").And.None.EqualTo("BatchRolledBack").And.None.EqualTo("PoisonedHitDropped"));
        Assert.That(Logs.Entries.Single(e => e.EventId.Name == "HostBlocked").Text, Does.Contain("Login.unblockBruteForceIPs").And.Contain("Matomo:TokenAuth"));
    }

    [Test]
    public async Task Send_PoisonedHitWithAToken_IsStillIsolatedAndNotTakenForABlock()
    {
        StandIn.PoisonWhen = p => p.GetValueOrDefault("action_name")?.EndsWith("Say3", StringComparison.Ordinal) == true;
        var tracker = await StartHostAsync(o => o.TokenAuth = StandIn.Token);

        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent + tracker.Statistics.Dropped == 10);

        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Dropped), Is.EqualTo((9L, 1L)), stats.ToString());
        Assert.That(Logs.Entries.Select(e => e.EventId.Name), Has.None.EqualTo("HostBlocked").And.Member("PoisonedHitDropped"));
    }

    [Test]
    public async Task Send_HostBlockedAfterTheBatchsFirstRollbackWasFoundNotToBeABlock_DropsNoHitAsPoisoned()
    {
        var poisoned = "Say" + ((Volatile.Read(ref _calls) + 1) % 10);
        var seen = 0;
        StandIn.PoisonWhen = p =>
        {
            if (p.GetValueOrDefault("action_name")?.EndsWith(poisoned, StringComparison.Ordinal) != true)
            {
                return false;
            }

            // The first request (the poisoned hit first, nothing counted) is probed and found not blocked; while the batch
            // is retried, Matomo begins to block this host (failed logins of another host behind the same IP).
            if (Interlocked.Increment(ref seen) == 2)
            {
                StandIn.IpBlocklisted = true;
            }

            return true;
        };
        var tracker = await StartHostAsync(o => o.TokenAuth = StandIn.Token);

        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Dropped > 0 || Logs.Entries.Any(e => e.EventId.Name == "HostBlocked"));
        var whileBlocked = tracker.Statistics;
        StandIn.IpBlocklisted = false;
        await WaitUntilAsync(() => tracker.Statistics.Sent + tracker.Statistics.Dropped == 10);

        Assert.That(whileBlocked.Dropped, Is.Zero, "no hit dropped as poisoned while Matomo blocks the host: " + whileBlocked);
        var stats = tracker.Statistics;
        Assert.That((stats.Sent, stats.Rejected, stats.Dropped), Is.EqualTo((9L, 0L, 1L)), "the poisoned hit alone is dropped once the block is lifted: " + stats);
        Assert.That(Logs.Entries.Count(e => e.EventId.Name == "PoisonedHitDropped"), Is.EqualTo(1));
    }

    [Test]
    public async Task Check_HostBlocked_ReportsItInMatomosWordsWithTheFixAndKeepsSendingCip()
    {
        StandIn.IpBlocklisted = true;
        await StartHostAsync(o => o.TokenAuth = StandIn.Token);

        var report = await TestHost!.Services.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);
        StandIn.IpBlocklisted = false;
        Track(TestHost.Services.GetRequiredService<MatomoTracker>(), 1);
        var stored = await StandIn.WaitForHitsAsync(1, Timeout);

        Assert.That(report.Findings.Where(f => f.Severity == MatomoCheckSeverity.DataLoss).Select(f => f.Code), Is.EqualTo(new[] { "host-blocked" }), report.ToString());
        Assert.That(report.Findings.Single().Message, Does.Contain("Too many failed logins. Please wait and try logging in again later.")
            .And.Contain("Login.unblockBruteForceIPs").And.Contain("allow-list").And.Contain("Matomo:TokenAuth"));
        Assert.That(stored[0].Parameters.ContainsKey("cip"), Is.True, "nothing is known about the token while blocked");
        Assert.That(StandIn.FailedLogins, Is.Zero);
    }

    [Test]
    public async Task Stop_WhileHostBlocked_CountsTheHeldHitsAsDroppedOnceAndProbesAtMostTwicePerAttempt()
    {
        StandIn.IpBlocklisted = true;
        var tracker = await StartHostAsync(o =>
        {
            o.TokenAuth = StandIn.Token;
            o.Sending.ShutdownTimeout = TimeSpan.FromMilliseconds(300);
        });

        Track(tracker, 10);
        await WaitUntilAsync(() => Logs.Entries.Any(e => e.EventId.Name == "HostBlocked"));
        await StopHostAsync();

        var stats = tracker.Statistics;
        var attempts = StandIn.Requests.Count(r => r.Body.Contains("&rec=1", StringComparison.Ordinal));
        var probes = StandIn.Requests.Count(r => r.Body.Contains("&rec=0", StringComparison.Ordinal));
        Assert.That((stats.Queued, stats.Sent, stats.Rejected, stats.Dropped, stats.QueueLength), Is.EqualTo((10L, 0L, 0L, 10L, 0)), "held hits given up at the deadline, each counted once: " + stats);
        Assert.That(StandIn.Hits, Is.Empty);
        Assert.That(attempts, Is.GreaterThan(0));
        Assert.That(probes, Is.LessThanOrEqualTo(2 * attempts), "one probe pair per rolled-back attempt at most");
        Assert.That(StandIn.FailedLogins, Is.Zero, "neither the batch nor the probes cost a failed login");
    }

    [Test]
    public async Task Health_TokenFixedAndCheckRunAgain_NoLongerSaysCipIsOff()
    {
        StandIn.TokenAccess = MatomoTokenAccess.View;
        var tracker = await StartHostAsync(o => o.TokenAuth = StandIn.Token, health: true);
        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 10);
        var refused = (await TestHost!.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["matomo"];

        StandIn.TokenAccess = MatomoTokenAccess.Write; // an admin gives the token's user write access, and the check runs again
        await TestHost.Services.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);
        Track(tracker, 10);
        await WaitUntilAsync(() => tracker.Statistics.Sent == 20);
        var fixedHealth = (await TestHost.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["matomo"];

        Assert.That(refused.Data.ContainsKey("token_refused"), Is.True, refused.Description);
        Assert.That(StandIn.Hits.Skip(10).Select(h => h.Parameters.ContainsKey("cip")), Has.All.True, "cip sent again once the check found the token's rights");
        Assert.That(fixedHealth.Data.ContainsKey("token_refused"), Is.False, "the health check must not say cip is off while it is sent: " + fixedHealth.Description);
        Assert.That(fixedHealth.Status, Is.EqualTo(HealthStatus.Healthy), fixedHealth.Description);
    }

    [Test]
    public async Task Health_BlockLiftedAndCheckRunAgainWithNothingToSend_NoLongerSaysBlocked()
    {
        StandIn.IpBlocklisted = true;
        await StartHostAsync(o => o.TokenAuth = StandIn.Token, health: true);
        var check = TestHost!.Services.GetRequiredService<MatomoSiteCheck>();
        await check.RunAsync().WaitAsync(Timeout);
        var blocked = (await TestHost.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["matomo"];

        StandIn.IpBlocklisted = false; // a super user unblocks the IP, and the check runs again
        var report = await check.RunAsync().WaitAsync(Timeout);
        var unblocked = (await TestHost.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["matomo"];

        Assert.That(blocked.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(blocked.Description, Does.Contain("brute-force"));
        Assert.That(report.Findings.Select(f => f.Code), Has.None.EqualTo("host-blocked"), report.ToString());
        Assert.That(unblocked.Data.ContainsKey("host_blocked"), Is.False, "Matomo answered the check with the token: not blocked. " + unblocked.Description);
        Assert.That(unblocked.Status, Is.EqualTo(HealthStatus.Healthy), unblocked.Description);
    }

    private async Task<(int Status, string Body)> PostAsync(HttpClient client, string body)
    {
        using var response = await client.PostAsync(StandIn.TrackerUrl, new StringContent(body, Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private Task<MatomoTracker> StartHostAsync(Action<MatomoOptions> configure, bool health = false) =>
        StartHostAsync(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.Sending.BatchSize = 10;
            o.Sending.MaxBatchSize = 10;
            o.Sending.MaxConcurrentRequests = 1;
            o.Check.Enabled = false; // the sender's own behaviour; the check is run by hand where it is tested
            o.Sending.FlushInterval = TimeSpan.FromMilliseconds(200);
            o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
            o.Sending.RetryMaxDelay = TimeSpan.FromMilliseconds(200);
            o.Sending.HttpTimeout = TimeSpan.FromSeconds(5);
        }, configure, health ? (_, services) => services.AddHealthChecks().AddMatomoTracking() : null);

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
