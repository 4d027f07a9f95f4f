using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Matomo.Rpc.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Shared.Tests;

public class MatomoSiteCheckTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private MatomoStandIn _matomo = null!;
    private CapturingLoggerProvider _logs = null!;

    [SetUp]
    public async Task SetUp()
    {
        _matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        _logs = new CapturingLoggerProvider();
    }

    [TearDown]
    public async Task TearDown()
    {
        // Whatever the scenario, the token never reaches a log line.
        Assert.That(_logs.Messages, Has.None.Contains(_matomo.Token));
        await _matomo.DisposeAsync();
    }

    [Test]
    public async Task RunAsync_HealthyMatomo_ReportsNoDataLoss()
    {
        _matomo.TokenAccess = MatomoTokenAccess.Admin;
        _matomo.Dimensions.Add(new ConfiguredDimension(1, 1));
        _matomo.Dimensions.Add(new ConfiguredDimension(2, 2));
        await using var provider = Build(o =>
        {
            o.Recording = MatomoRecording.Both;
            o.Dimensions.Outcome = 1;
            o.Dimensions.CallKind = 2;
        });

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        TestContext.Out.WriteLine(report);
        Assert.That(report.LosesData, Is.False, report.ToString());
        Assert.That(report.MatomoVersion, Is.EqualTo("5.0.2"));
        Assert.That(Codes(report, MatomoCheckSeverity.Ok), Is.EquivalentTo(new[] { "version", "site", "token-rights", "dimension", "dimension", "custom-variables" }));
        Assert.That(Codes(report, MatomoCheckSeverity.Advice), Is.Empty);
        Assert.That(_logs.EventNames, Has.Member("CheckFine").And.No.Member("CheckDataLoss"));
    }

    [Test]
    public async Task RunAsync_Matomo3_DoesNotAdviseAgainstGtMs()
    {
        _matomo.Version = "3.14.1";
        await using var provider = Build(o => o.SendGenerationTime = true);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.Ok), Does.Contain("version"));
        Assert.That(Codes(report, MatomoCheckSeverity.Advice), Does.Not.Contain("gt-ms-ignored"));
    }

    [Test]
    public async Task RunAsync_SendGenerationTimeOnMatomo5_AdvisesAgainstGtMs()
    {
        await using var provider = Build(o => o.SendGenerationTime = true);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.Advice), Does.Contain("gt-ms-ignored"));
    }

    [Test]
    public async Task RunAsync_SendGenerationTimeOff_DoesNotAdviseAgainstGtMs()
    {
        await using var provider = Build(o => o.SendGenerationTime = false);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.Advice), Does.Not.Contain("gt-ms-ignored"));
        Assert.That(report.LosesData, Is.False, report.ToString());
    }

    [Test]
    public async Task RunAsync_WrongToken_ReportsRejectionAndStopsSendingCip()
    {
        await using var provider = Build(o => o.TokenAuth = "ffffffffffffffffffffffffffffffff");

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);
        var stored = await TrackOneCallAsync(provider);

        Assert.That(report.LosesData, Is.True);
        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "token-rejected" }));
        Assert.That(report.Findings.Single().Message, Does.Contain("Matomo:TokenAuth"));
        Assert.That(stored.Parameters.ContainsKey("cip"), Is.False, "cip would make Matomo reject the hit");
        Assert.That(_logs.EventNames, Has.Member("CheckDataLoss"));
        Assert.That(_logs.Messages, Has.None.Contains("ffffffffffffffffffffffffffffffff"));
    }

    [TestCase(MatomoTokenAccess.View)]
    [TestCase(MatomoTokenAccess.None)]
    public async Task RunAsync_TokenWithoutWriteAccess_ReportsRightsAndStopsSendingCip(MatomoTokenAccess access)
    {
        _matomo.TokenAccess = access;
        await using var provider = Build();

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);
        var stored = await TrackOneCallAsync(provider);

        TestContext.Out.WriteLine(report);
        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Does.Contain("token-rights"));
        Assert.That(report.Findings.First(f => f.Code == "token-rights").Message, Does.Contain("write access"));
        Assert.That(stored.Parameters.ContainsKey("cip"), Is.False);
    }

    [TestCase(MatomoTokenAccess.Write)]
    [TestCase(MatomoTokenAccess.Admin)]
    [TestCase(MatomoTokenAccess.SuperUser)]
    public async Task RunAsync_TokenWithRights_KeepsSendingCip(MatomoTokenAccess access)
    {
        _matomo.TokenAccess = access;
        await using var provider = Build();

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);
        var stored = await TrackOneCallAsync(provider);

        Assert.That(Codes(report, MatomoCheckSeverity.Ok), Does.Contain("token-rights"));
        Assert.That(stored["cip"], Is.EqualTo("203.0.113.7"));
    }

    [Test]
    public async Task RunAsync_UnknownSite_ReportsSiteMissing()
    {
        await using var provider = Build(o => o.SiteId = 42);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Does.Contain("site-missing"));
        Assert.That(report.Findings.First(f => f.Code == "site-missing").Message, Does.Contain("Matomo:SiteId"));
    }

    [Test]
    public async Task RunAsync_MappedDimensionMissing_ReportsIt()
    {
        _matomo.Dimensions.Add(new ConfiguredDimension(1, 1));
        await using var provider = Build(o =>
        {
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Outcome = 1;
            o.Dimensions.CallKind = 7;
        });

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "dimension-missing" }));
        Assert.That(report.Findings.Single(f => f.Code == "dimension-missing").Message, Does.Contain("Matomo:Dimensions:CallKind"));
    }

    [Test]
    public async Task RunAsync_DimensionWithVisitScope_ReportsScope()
    {
        _matomo.Dimensions.Add(new ConfiguredDimension(3, 1, Scope: "visit"));
        await using var provider = Build(o =>
        {
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Outcome = 3;
        });

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "dimension-scope" }));
        Assert.That(report.Findings.Single(f => f.Code == "dimension-scope").Message, Does.Contain("action scope"));
    }

    [Test]
    public async Task RunAsync_InactiveDimension_ReportsIt()
    {
        _matomo.Dimensions.Add(new ConfiguredDimension(4, 1, Active: false));
        await using var provider = Build(o =>
        {
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Outcome = 4;
        });

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "dimension-inactive" }));
    }

    [Test]
    public async Task RunAsync_CustomVariablesPluginInactive_ReportsIt()
    {
        _matomo.CustomVariablesPluginActive = false;
        await using var provider = Build();

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "custom-variables-plugin" }));
        Assert.That(report.Findings.Single(f => f.Code == "custom-variables-plugin").Message, Does.Contain("Matomo:Recording"));
    }

    [Test]
    public async Task RunAsync_FewerSlotsThanConfigured_ReportsSlots()
    {
        _matomo.TokenAccess = MatomoTokenAccess.Admin;
        _matomo.CustomVariableSlots = 3;
        await using var provider = Build();

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "custom-variable-slots" }));
        Assert.That(report.Findings.Single(f => f.Code == "custom-variable-slots").Message, Does.Contain("Matomo:CustomVariableSlots to 3"));
    }

    [Test]
    public async Task RunAsync_WriteTokenCannotCountSlots_AdvisesWithoutDataLoss()
    {
        _matomo.TokenAccess = MatomoTokenAccess.Write;
        await using var provider = Build();

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(report.LosesData, Is.False, report.ToString());
        Assert.That(Codes(report, MatomoCheckSeverity.Advice), Does.Contain("custom-variables-unchecked"));
    }

    [Test]
    public async Task RunAsync_WriteTokenOnAMatomoWithManySites_FindsItsSiteBeyondTheFirstHundred()
    {
        _matomo.TokenAccess = MatomoTokenAccess.Write;
        _matomo.OtherSites = 150;
        await using var provider = Build();

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(report.LosesData, Is.False, report.ToString());
    }

    [Test]
    public async Task RunAsync_MatomoDown_ReportsUnreachable()
    {
        await _matomo.StopAsync().WaitAsync(Timeout);
        await using var provider = Build();

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "unreachable" }));
        await _matomo.RestartAsync().WaitAsync(Timeout);
    }

    [Test]
    public async Task RunAsync_SlowMatomo_TimesOutAndTrackingGoesOn()
    {
        _matomo.Latency = TimeSpan.FromSeconds(3);
        await using var provider = Build(o => o.Check.Timeout = TimeSpan.FromMilliseconds(300));

        var watch = Stopwatch.StartNew();
        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);
        watch.Stop();
        _matomo.Latency = TimeSpan.Zero;
        var stored = await TrackOneCallAsync(provider);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "unreachable" }));
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2.5)), "the check is bounded by Matomo:Check:Timeout");
        Assert.That(stored["action_name"], Is.EqualTo("greet.Greeter/SayHello"));
    }

    [Test]
    public async Task RunAsync_NoToken_ChecksReachabilityAndAdvises()
    {
        await using var provider = Build(o => o.TokenAuth = null);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(report.LosesData, Is.False, report.ToString());
        Assert.That(Codes(report, MatomoCheckSeverity.Ok), Is.EqualTo(new[] { "reachable" }));
        Assert.That(Codes(report, MatomoCheckSeverity.Advice), Is.EqualTo(new[] { "no-token" }));
        Assert.That(_matomo.Requests.Where(r => r.Path.EndsWith("index.php", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public async Task RunAsync_TokenIsSentInTheBodyOnly()
    {
        await using var provider = Build();

        await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        var apiRequests = _matomo.Requests.Where(r => r.Path.EndsWith("index.php", StringComparison.Ordinal)).ToList();
        Assert.That(apiRequests, Is.Not.Empty);
        Assert.That(apiRequests.Select(r => r.TokenInUrl), Has.All.False);
    }

    [Test]
    public async Task StartAsync_FailStartupWithDataLoss_StopsTheStart()
    {
        _matomo.CustomVariablesPluginActive = false;
        using var host = BuildHost(o => o.Check.FailStartup = true);

        var ex = Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync().WaitAsync(Timeout));

        Assert.That(ex!.Message, Does.Contain("Matomo:Check:FailStartup").And.Contain("CustomVariables plugin"));
        Assert.That(ex.Message, Does.Not.Contain(_matomo.Token));
    }

    [Test]
    public async Task StartAsync_FailStartupHealthy_Starts()
    {
        using var host = BuildHost(o => o.Check.FailStartup = true);

        await host.StartAsync().WaitAsync(Timeout);

        Assert.That(host.Services.GetRequiredService<MatomoSiteCheck>().LastReport, Is.Not.Null);
        await host.StopAsync().WaitAsync(Timeout);
    }

    [Test]
    public async Task StartAsync_BackgroundCheckOnSlowMatomo_DoesNotDelayStart()
    {
        _matomo.Latency = TimeSpan.FromSeconds(3);
        using var host = BuildHost();

        var watch = Stopwatch.StartNew();
        await host.StartAsync().WaitAsync(Timeout);
        watch.Stop();

        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)), "the start-up check runs in the background");
        _matomo.Latency = TimeSpan.Zero;
        await host.StopAsync().WaitAsync(Timeout);
    }

    [Test]
    public async Task StartAsync_BackgroundCheck_LogsFindingsAndDegradesHealth()
    {
        _matomo.CustomVariablesPluginActive = false;
        using var host = BuildHost(configureServices: s => s.AddHealthChecks().AddMatomoTracking());

        await host.StartAsync().WaitAsync(Timeout);
        var check = host.Services.GetRequiredService<MatomoSiteCheck>();
        var deadline = DateTime.UtcNow + Timeout;
        while (check.LastReport is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(Timeout);
        await host.StopAsync().WaitAsync(Timeout);

        Assert.That(check.LastReport, Is.Not.Null);
        Assert.That(_logs.EventNames, Has.Member("CheckDataLoss"));
        Assert.That(health.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(health.Entries["matomo"].Description, Does.Contain("CustomVariables plugin"));
    }

    [Test]
    public async Task StartAsync_CheckDisabled_AsksMatomoNothing()
    {
        using var host = BuildHost(o => o.Check.Enabled = false);

        await host.StartAsync().WaitAsync(Timeout);
        await host.StopAsync().WaitAsync(Timeout);

        Assert.That(_matomo.Requests.Where(r => r.Path.EndsWith("index.php", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public async Task RunAsync_WriteTokenOnRealAnswers_KeepsMatomosMessageAndLosesNothing()
    {
        _matomo.TokenAccess = MatomoTokenAccess.Write;
        await using var provider = Build();

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        TestContext.Out.WriteLine(report);
        Assert.That(report.LosesData, Is.False, report.ToString());
        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.Empty);
        var unchecked_ = report.Findings.Single(f => f.Code == "custom-variables-unchecked").Message;
        Assert.That(unchecked_, Does.Contain("The CustomVariables plugin is active").And.Contain("requires 'admin' access").And.Contain("Nothing is lost"));
        Assert.That(report.Findings.Select(f => f.Message), Has.None.Contain("not active"));
    }

    [TestCase(MatomoTokenAccess.Write, "requires 'view' access for the website id = 42")]
    [TestCase(MatomoTokenAccess.View, "requires 'view' access for the website id = 42")]
    [TestCase(MatomoTokenAccess.SuperUser, "An unexpected website was found in the request: website id was set to '42'")]
    public async Task RunAsync_MissingSite_KeepsMatomosMessageAndClaimsNoRights(MatomoTokenAccess access, string matomoSays)
    {
        _matomo.TokenAccess = access;
        await using var provider = Build(o => o.SiteId = 42);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        TestContext.Out.WriteLine(report);
        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "site-missing" }));
        Assert.That(report.Findings.Single(f => f.Code == "site-missing").Message, Does.Contain(matomoSays));
        Assert.That(report.Findings.Select(f => f.Code), Has.None.EqualTo("token-rights"), "rights on a site that does not exist say nothing true");
    }

    [Test]
    public async Task RunAsync_InvalidToken_KeepsMatomosMessage()
    {
        await using var provider = Build(o => o.TokenAuth = "ffffffffffffffffffffffffffffffff");

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(report.Findings.Single().Message, Does.Contain("Unable to authenticate with the provided token"));
    }

    [Test]
    public async Task RunAsync_PluginInactive_KeepsMatomosMessageDecoded()
    {
        _matomo.CustomVariablesPluginActive = false;
        await using var provider = Build();

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(report.Findings.Single(f => f.Code == "custom-variables-plugin").Message, Does.Contain("Settings > Plugins page"));
    }

    [Test]
    public async Task RunAsync_MatomoEchoesTheToken_ReportAndHealthDataRedactIt()
    {
        // A Matomo (or a proxy) that echoes what it was sent: the token must not reach the report kept in the health data.
        var handler = new ScriptedMatomo();
        handler.Answers["SitesManager.getSiteFromId"] = (200, "{\"result\":\"error\",\"message\":\"Unknown site; token_auth=" + _matomo.Token + "\"}");
        handler.Answers["API.getMatomoVersion"] = (200, "{\"value\":\"5.0.2-" + _matomo.Token + "\"}");
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(_logs));
        services.AddMatomoTracking(Configure);
        services.AddHealthChecks().AddMatomoTracking();
        services.AddHttpClient(MatomoTracker.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => handler);
        await using var provider = services.BuildServiceProvider();

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);
        var health = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(Timeout);

        Assert.That(report.Findings.Single(f => f.Code == "site-missing").Message, Does.Contain("token_auth=***"));
        Assert.That(report.ToString(), Does.Not.Contain(_matomo.Token));
        Assert.That(report.MatomoVersion, Does.Not.Contain(_matomo.Token));
        var entry = health.Entries["matomo"];
        Assert.That(entry.Description, Does.Not.Contain(_matomo.Token));
        Assert.That(entry.Data.Values.Select(v => v.ToString()), Has.None.Contain(_matomo.Token));
    }

    [Test]
    public async Task RunAsync_QueuedTrackingOn_SaysWhatItMeans()
    {
        var handler = new ScriptedMatomo { QueuedTrackingActive = true, BulkAnswer = (200, string.Empty) };
        await using var provider = BuildScripted(handler);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        TestContext.Out.WriteLine(report);
        var message = report.Findings.Single(f => f.Code == "queued-tracking").Message;
        Assert.That(message, Does.Contain("queues hits").And.Contain("reports nothing per hit").And.Contain("every later hit of the same request"));
        Assert.That(report.LosesData, Is.False, report.ToString());
        Assert.That(handler.BulkBodies, Is.EqualTo(new[] { "{\"requests\":[]}" }), "the probe sends no hit");
    }

    [Test]
    public async Task RunAsync_QueuedTrackingActiveQueueOff_SaysHitsAreStoredDirectly()
    {
        var handler = new ScriptedMatomo { QueuedTrackingActive = true };
        await using var provider = BuildScripted(handler);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.Ok), Does.Contain("queued-tracking-off"));
        Assert.That(report.Findings.Select(f => f.Code), Has.None.EqualTo("queued-tracking"));
    }

    [Test]
    public async Task RunAsync_QueuedTrackingInactive_DoesNotProbeTheTracker()
    {
        var handler = new ScriptedMatomo();
        await using var provider = BuildScripted(handler);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(report.Findings.Select(f => f.Code), Has.None.StartsWith("queued-tracking"));
        Assert.That(handler.BulkBodies, Is.Empty);
    }

    [Test]
    public async Task RunAsync_NoToken_SendsNoHitAndNoBulkRequest()
    {
        var handler = new ScriptedMatomo { BulkAnswer = (200, "GIF89a") };
        await using var provider = BuildScripted(handler, o => o.TokenAuth = null);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.Advice), Is.EqualTo(new[] { "no-token" }));
        Assert.That(handler.BulkBodies, Is.EqualTo(new[] { string.Empty }), "one GET, no body");
    }

    private static readonly string[] OddJson =
    [
        "1", "-1.5e300", "1e400", "\"5.0.2\"", "null", "true", "false", "[]", "{}", "[1,\"a\",null,{},[],true]",
        "{\"value\":{}}", "{\"value\":[1]}", "{\"value\":null}", "{\"value\":12}", "{\"value\":\"\"}",
        "{\"result\":1,\"message\":{}}", "{\"result\":\"error\",\"message\":7}", "{\"result\":\"error\"}", "{\"result\":[\"error\"]}",
        "{\"result\":\"error\",\"message\":null}", "{\"name\":{\"a\":1},\"idsite\":[]}",
        "[{\"idcustomdimension\":{},\"scope\":5,\"active\":1.5}]", "[{\"idcustomdimension\":1,\"scope\":\"action\",\"active\":1e400}]",
        "[{\"idcustomdimension\":\"1\",\"scope\":[],\"active\":\"yes\"}]", "[{\"scope\":{}},{\"scope\":null},7,\"page\"]",
        "[[1]]", "[null]", "not json", "", "<html><h2>x</h2></html>", "{\"value\":", new string('[', 200) + new string(']', 200),
    ];

    private static readonly string[] CheckedMethods =
    [
        "API.getMatomoVersion", "SitesManager.getSiteFromId", "SitesManager.getSitesIdWithWriteAccess", "SitesManager.getSitesIdWithAdminAccess",
        "UsersManager.hasSuperUserAccess", "CustomDimensions.getConfiguredCustomDimensions", "CustomVariables.getUsagesOfSlots", "API.isPluginActivated",
        "matomo.php",
    ];

    [TestCaseSource(nameof(OddJson))]
    public async Task RunAsync_OddJsonFromAnyMethod_NeverThrows(string body)
    {
        var handler = new ScriptedMatomo { QueuedTrackingActive = true };
        await using var provider = BuildScripted(handler, o =>
        {
            o.Recording = MatomoRecording.Both;
            o.Dimensions.Outcome = 1;
            o.Dimensions.CallKind = 2;
        });
        var check = provider.GetRequiredService<MatomoSiteCheck>();

        foreach (var status in new[] { 200, 401, 500 })
        {
            foreach (var method in CheckedMethods.Append("*"))
            {
                handler.Answers.Clear();
                handler.BulkAnswer = (200, "{\"status\":\"success\",\"tracked\":0,\"invalid\":0}");
                if (method == "matomo.php")
                {
                    handler.BulkAnswer = (status, body);
                }
                else if (method == "*")
                {
                    handler.Answers.Add("*", (status, body));
                }
                else
                {
                    handler.Answers.Add(method, (status, body));
                }

                MatomoCheckReport? report = null;
                Assert.DoesNotThrowAsync(async () => report = await check.RunAsync().WaitAsync(Timeout), $"{method} answering HTTP {status} {body}");
                Assert.That(report!.Findings, Is.Not.Empty);
            }
        }
    }

    [Test]
    public async Task RunAsync_UnknownCharset_NeverThrows()
    {
        var handler = new ScriptedMatomo { ContentType = "application/json; charset=no-such-charset" };
        await using var provider = BuildScripted(handler);

        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(Timeout);

        Assert.That(Codes(report, MatomoCheckSeverity.Ok), Does.Contain("site"));
    }

    [Test]
    public void StartAsync_FailStartupWithOddJson_FailsWithTheReportNotAParserError()
    {
        var handler = new ScriptedMatomo();
        handler.Answers["SitesManager.getSiteFromId"] = (200, "{\"result\":\"error\",\"message\":{\"nested\":1}}");
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders().AddProvider(_logs);
        builder.Services.AddMatomoTracking(o =>
        {
            Configure(o);
            o.Check.FailStartup = true;
        });
        builder.Services.AddHttpClient(MatomoTracker.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => handler);
        using var host = builder.Build();

        var ex = Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync().WaitAsync(Timeout));

        Assert.That(ex!.Message, Does.Contain("Matomo:Check:FailStartup").And.Contain("Site 1 does not exist"));
    }

    private static string[] Codes(MatomoCheckReport report, MatomoCheckSeverity severity) =>
        report.Findings.Where(f => f.Severity == severity).Select(f => f.Code).ToArray();

    private void Configure(MatomoOptions o)
    {
        o.TrackerUrl = _matomo.TrackerUrl;
        o.SiteId = _matomo.SiteId;
        o.TokenAuth = _matomo.Token;
        o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
    }

    private ServiceProvider Build(Action<MatomoOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
        services.AddMatomoTracking(o =>
        {
            Configure(o);
            configure?.Invoke(o);
        });
        return services.BuildServiceProvider();
    }

    private IHost BuildHost(Action<MatomoOptions>? configure = null, Action<IServiceCollection>? configureServices = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders().AddProvider(_logs).SetMinimumLevel(LogLevel.Trace);
        builder.Services.AddMatomoTracking(o =>
        {
            Configure(o);
            configure?.Invoke(o);
        });
        configureServices?.Invoke(builder.Services);
        return builder.Build();
    }

    /// <summary>Runs the sender, tracks one call from 203.0.113.7 and returns what the stand-in stored.</summary>
    private async Task<StoredHit> TrackOneCallAsync(ServiceProvider provider)
    {
        var hosted = provider.GetServices<IHostedService>().Where(s => s.GetType().Name == "MatomoSender").ToList();
        foreach (var service in hosted)
        {
            await service.StartAsync(CancellationToken.None);
        }

        var call = provider.GetRequiredService<MatomoTracker>().StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary)!;
        call.SetCaller(new MatomoCallerInfo { RemoteAddress = IPAddress.Parse("203.0.113.7"), UserAgent = "grpc-go/1.60" });
        call.Complete(MatomoOutcome.Ok);
        var stored = await _matomo.WaitForHitsAsync(1, Timeout);
        foreach (var service in hosted)
        {
            await service.StopAsync(CancellationToken.None);
        }

        return stored[0];
    }

    private ServiceProvider BuildScripted(ScriptedMatomo handler, Action<MatomoOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
        services.AddMatomoTracking(o =>
        {
            Configure(o);
            configure?.Invoke(o);
        });
        services.AddHttpClient(MatomoTracker.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => handler);
        return services.BuildServiceProvider();
    }

    /// <summary>
    /// A Matomo whose answers a test writes by hand, method by method (<c>*</c>: every API method), for shapes the
    /// stand-in never sends. By default it answers as a healthy Matomo 5 with a write token.
    /// </summary>
    private sealed class ScriptedMatomo : HttpMessageHandler
    {
        public Dictionary<string, (int Status, string Body)> Answers { get; } = new(StringComparer.Ordinal);

        public (int Status, string Body) BulkAnswer { get; set; } = (200, "{\"status\":\"success\",\"tracked\":0,\"invalid\":0}");

        public bool QueuedTrackingActive { get; set; }

        public string ContentType { get; set; } = "application/json; charset=utf-8";

        public ConcurrentQueue<string> BulkBodies { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? string.Empty : await request.Content.ReadAsStringAsync(cancellationToken);
            (int Status, string Body) answer;
            if (request.RequestUri!.AbsolutePath.EndsWith("matomo.php", StringComparison.Ordinal))
            {
                BulkBodies.Enqueue(body);
                answer = BulkAnswer;
            }
            else
            {
                var form = body.Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => Uri.UnescapeDataString(p[0]), p => p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : string.Empty);
                var method = form.GetValueOrDefault("method") ?? string.Empty;
                answer = Answers.TryGetValue(method, out var a) || Answers.TryGetValue("*", out a) ? a : Healthy(method, form.GetValueOrDefault("pluginName"));
            }

            var content = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(answer.Body));
            content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
            return new HttpResponseMessage((HttpStatusCode)answer.Status) { Content = content };
        }

        private (int, string) Healthy(string method, string? plugin) => method switch
        {
            "API.getMatomoVersion" => (200, "{\"value\":\"5.0.2\"}"),
            "SitesManager.getSiteFromId" => (200, "{\"idsite\":\"1\",\"name\":\"Site\"}"),
            "SitesManager.getSitesIdWithWriteAccess" => (200, "[1]"),
            "SitesManager.getSitesIdWithAdminAccess" => (200, "[]"),
            "UsersManager.hasSuperUserAccess" => (200, "{\"value\":false}"),
            "CustomDimensions.getConfiguredCustomDimensions" => (200, "[{\"idcustomdimension\":\"1\",\"index\":\"1\",\"scope\":\"action\",\"active\":true},{\"idcustomdimension\":\"2\",\"index\":\"2\",\"scope\":\"action\",\"active\":true}]"),
            "CustomVariables.getUsagesOfSlots" => (401, "{\"result\":\"error\",\"message\":\"You can't access this resource as it requires 'admin' access for the website id = 1.\"}"),
            "API.isPluginActivated" => (200, plugin == "QueuedTracking" && !QueuedTrackingActive ? "{\"value\":false}" : "{\"value\":true}"),
            _ => (200, "{\"result\":\"error\",\"message\":\"The method does not exist.\"}"),
        };
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<(string EventName, string Message)> _entries = new();

        public IEnumerable<string> Messages => _entries.Select(e => e.Message);

        public IEnumerable<string> EventNames => _entries.Select(e => e.EventName);

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner._entries.Enqueue((eventId.Name ?? string.Empty, formatter(state, exception) + " " + exception));
        }
    }
}
