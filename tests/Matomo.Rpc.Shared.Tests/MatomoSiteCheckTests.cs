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
