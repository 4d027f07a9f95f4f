using System.Globalization;
using Greet;
using Matomo.Rpc.Grpc.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.RealMatomo.Tests;

/// <summary>The Matomo-side check, run against a real Matomo: every finding true, none contradicting another.</summary>
public class MatomoSiteCheckRealMatomoTests : RealMatomoFixture
{
    private int _site;

    [OneTimeSetUp]
    public async Task CreateSite() => _site = await Matomo.CreateSiteAsync("check");

    [Test]
    public async Task RunAsync_SuperUserToken_FindsNoLoss()
    {
        var report = await CheckAsync(_site, Matomo.SuperUserToken);

        Assert.That(report.LosesData, Is.False, report.ToString());
        Assert.That(report.MatomoVersion, Does.Match(@"^\d+\.\d+"));
        Assert.That(Codes(report, MatomoCheckSeverity.Ok), Is.SupersetOf(new[] { "site", "token-rights", "custom-variables" }));
    }

    [Test]
    public async Task RunAsync_WriteToken_SaysSlotsCannotBeCountedAndNothingIsLost()
    {
        RealMatomo.RequireOrIgnore("MATOMO_TOKEN_WRITE", "MATOMO_WRITE_LOGIN");

        var report = await CheckAsync(_site, RealMatomo.WriteToken);

        Assert.That(report.LosesData, Is.False, report.ToString());
        Assert.That(Codes(report, MatomoCheckSeverity.Ok), Is.SupersetOf(new[] { "site", "token-rights" }));
        Assert.That(Finding(report, "custom-variables-unchecked").Message,
            Does.Contain("The CustomVariables plugin is active").And.Contain("requires 'admin' access").And.Contain("Nothing is lost"));
    }

    [Test]
    public async Task RunAsync_ViewToken_SaysCipIsNotSentAndHitsAreKept()
    {
        RealMatomo.RequireOrIgnore("MATOMO_TOKEN_VIEW", "MATOMO_VIEW_LOGIN");

        var report = await CheckAsync(_site, RealMatomo.ViewToken);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "token-rights" }), report.ToString());
        Assert.That(Finding(report, "token-rights").Message, Does.Contain("hits are kept without callers' IPs"));
        Assert.That(Finding(report, "custom-variables-unchecked").Message, Does.Contain("requires 'admin' access"));
    }

    [Test]
    public async Task RunAsync_InvalidToken_SaysMatomoRejectsItInMatomosWords()
    {
        // Matomo logs each request with an unknown token as a failed login of its IP and, after 20 within an hour,
        // refuses every request from that IP that carries a token (brute-force detection). This test's one failed
        // login is taken back, so that runs of the suite against a long-lived kit never add up to a block.
        var before = await LastFailedLoginAsync();
        MatomoCheckReport report;
        try
        {
            report = await CheckAsync(_site, "0000000000000000000000000000dead");
        }
        finally
        {
            if (before is { } last)
            {
                await RealMatomo.SqlAsync($"DELETE FROM matomo_brute_force_log WHERE id_brute_force_log > {last}");
            }
        }

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "token-rejected" }), report.ToString());
        Assert.That(Finding(report, "token-rejected").Message, Does.Contain("Unable to authenticate with the provided token"));
    }

    [Test]
    public async Task RunAsync_NoToken_ChecksReachabilityOnly()
    {
        var report = await CheckAsync(_site, null);

        Assert.That(report.LosesData, Is.False, report.ToString());
        Assert.That(Codes(report, MatomoCheckSeverity.Ok), Is.EqualTo(new[] { "reachable" }));
        Assert.That(Codes(report, MatomoCheckSeverity.Advice), Is.EqualTo(new[] { "no-token" }));
    }

    [Test]
    public async Task RunAsync_MissingSiteWithWriteToken_KeepsMatomosMessage()
    {
        RealMatomo.RequireOrIgnore("MATOMO_TOKEN_WRITE");
        var missing = await MissingSiteAsync();

        var report = await CheckAsync(missing, RealMatomo.WriteToken);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "site-missing" }), report.ToString());
        Assert.That(Finding(report, "site-missing").Message, Does.Contain($"requires 'view' access for the website id = {missing}"));
        Assert.That(report.Findings.Select(f => f.Code), Has.None.EqualTo("token-rights"));
    }

    [Test]
    public async Task RunAsync_MissingSiteWithSuperUserToken_ClaimsNoRightsOnIt()
    {
        var missing = await MissingSiteAsync();

        var report = await CheckAsync(missing, Matomo.SuperUserToken);

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "site-missing" }), report.ToString());
        Assert.That(Finding(report, "site-missing").Message, Does.Contain($"website id was set to '{missing}'"));
        Assert.That(report.Findings.Select(f => f.Code), Has.None.EqualTo("token-rights"));
    }

    [Test]
    public async Task RunAsync_MissingAndInactiveDimensions_SaysSoForEachAndMatomoAgrees()
    {
        var site = await Matomo.CreateSiteAsync("dimensions");
        var active = await Matomo.CreateDimensionAsync(site, "Outcome");
        var inactive = await Matomo.CreateDimensionAsync(site, "Kind", active: false);
        var visit = await Matomo.CreateDimensionAsync(site, "Tenant", scope: "visit");
        const int Missing = 99;

        var report = await CheckAsync(site, TrackingToken, o =>
        {
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Outcome = active;
            o.Dimensions.CallKind = inactive;
            o.Dimensions.Messages = Missing;
            o.Dimensions.Error = visit;
        });

        Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EquivalentTo(new[] { "dimension-inactive", "dimension-missing", "dimension-scope" }), report.ToString());
        Assert.That(Finding(report, "dimension").Message, Does.Contain("Matomo:Dimensions:Outcome"));
        Assert.That(Finding(report, "dimension-inactive").Message, Does.Contain("Matomo:Dimensions:CallKind"));
        Assert.That(Finding(report, "dimension-missing").Message, Does.Contain("Matomo:Dimensions:Messages"));
        Assert.That(Finding(report, "dimension-scope").Message, Does.Contain("Matomo:Dimensions:Error"));

        // True of Matomo: the active dimension is stored, the inactive one is not.
        await using var host = await StartGrpcAsync(site, TrackingToken, o =>
        {
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Outcome = active;
            o.Dimensions.CallKind = inactive;
        });
        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "dims" }).ResponseAsync.WaitAsync(TestTimeouts.Default);
        await WaitUntilAccountedAsync(host.Services, 1);
        var action = (await Matomo.WaitForActionsAsync(site, 1)).Single().Actions.Single();
        Assert.That(action.Field("dimension" + active), Is.EqualTo("OK (0)"));
        Assert.That(action.Field("dimension" + inactive), Is.Null);
    }

    [Test]
    public async Task RunAsync_CustomVariablesPluginDeactivated_SaysSoAndMatomoAgrees()
    {
        RealMatomo.RequireOrIgnore("MATOMO_CONSOLE");
        var site = await Matomo.CreateSiteAsync("no-custom-variables");
        MatomoCheckReport superUser, write;
        IReadOnlyList<Visit> visits;
        await ConsoleAsync("plugin:deactivate", "CustomVariables");
        try
        {
            superUser = await CheckAsync(site, Matomo.SuperUserToken);
            write = await CheckAsync(site, TrackingToken);
            await using var host = await StartGrpcAsync(site, TrackingToken);
            await host.Greeter.SayHelloAsync(new HelloRequest { Name = "lost" }).ResponseAsync.WaitAsync(TestTimeouts.Default);
            await WaitUntilAccountedAsync(host.Services, 1);
            visits = await Matomo.WaitForActionsAsync(site, 1);
        }
        finally
        {
            await ConsoleAsync("plugin:activate", "CustomVariables");
        }

        foreach (var report in new[] { superUser, write })
        {
            Assert.That(Codes(report, MatomoCheckSeverity.DataLoss), Is.EqualTo(new[] { "custom-variables-plugin" }), report.ToString());
            Assert.That(Finding(report, "custom-variables-plugin").Message, Does.Contain("The plugin CustomVariables is not enabled"));
        }

        Assert.That(visits.Single().Actions.Single().CustomVariables, Is.Empty, "Matomo drops the custom variables, as the check says");
    }

    private static async Task ConsoleAsync(params string[] arguments)
    {
        var (exitCode, output) = await RealMatomo.RunAsync(RealMatomo.Console!, arguments, TimeSpan.FromSeconds(60));
        Assert.That(exitCode, Is.EqualTo(0), output);
    }

    /// <summary>The id of the newest failed login Matomo has logged (0 when none), or null without <c>MATOMO_SQL</c>.</summary>
    private static async Task<long?> LastFailedLoginAsync()
    {
        if (RealMatomo.Sql is null)
        {
            return null;
        }

        var rows = await RealMatomo.SqlAsync("SELECT COALESCE(MAX(id_brute_force_log), 0) FROM matomo_brute_force_log");
        return long.Parse(rows[0][0], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// An id above every site of this Matomo, with room for the sites other tests create meanwhile. The API cuts any
    /// list to its first 100 entries unless asked for all (filter_limit=-1): a kit that has served many runs holds
    /// more sites than that.
    /// </summary>
    private async Task<int> MissingSiteAsync()
    {
        var ids = await Matomo.CallOkAsync("SitesManager.getAllSitesId", ("filter_limit", "-1"));
        return ids.EnumerateArray().Select(i => int.Parse(i.ToString(), CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max() + 100_000;
    }

    private async Task<MatomoCheckReport> CheckAsync(int site, string? token, Action<MatomoOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.ClearProviders());
        services.AddMatomoTracking(o =>
        {
            Track(o, site, token);
            o.Check.Enabled = false;
            configure?.Invoke(o);
        });
        await using var provider = services.BuildServiceProvider();
        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(RealMatomo.Patience);
        TestContext.Out.WriteLine(report);
        AssertConsistent(report, token);
        return report;
    }

    /// <summary>What any report must be: no finding contradicts another, and none carries the token.</summary>
    private static void AssertConsistent(MatomoCheckReport report, string? token)
    {
        var codes = report.Findings.Select(f => f.Code).ToList();
        Assert.That(codes.Where(c => !c.StartsWith("dimension", StringComparison.Ordinal)), Is.Unique, report.ToString());
        if (codes.Contains("site-missing"))
        {
            Assert.That(codes, Has.None.EqualTo("site").And.None.EqualTo("token-rights"), report.ToString());
        }

        if (codes.Contains("custom-variables-plugin"))
        {
            Assert.That(codes, Has.None.EqualTo("custom-variables").And.None.EqualTo("custom-variables-unchecked"), report.ToString());
        }

        if (codes.Contains("token-rejected"))
        {
            Assert.That(report.Findings, Has.Count.EqualTo(1), report.ToString());
        }

        Assert.That(report.LosesData, Is.EqualTo(report.Findings.Any(f => f.Severity == MatomoCheckSeverity.DataLoss)));
        if (token is not null)
        {
            Assert.That(report.ToString(), Does.Not.Contain(token));
        }
    }

    private static string[] Codes(MatomoCheckReport report, MatomoCheckSeverity severity) =>
        report.Findings.Where(f => f.Severity == severity).Select(f => f.Code).ToArray();

    private static MatomoCheckFinding Finding(MatomoCheckReport report, string code) =>
        report.Findings.FirstOrDefault(f => f.Code == code) ?? throw new AssertionException($"No '{code}' finding in:{Environment.NewLine}{report}");
}
