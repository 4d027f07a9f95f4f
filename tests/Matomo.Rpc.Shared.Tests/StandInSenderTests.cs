using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// Tests of the real sender in a host of its own (real clock, short intervals) against a fresh Matomo stand-in over
/// loopback HTTP, with the host's logs captured. After each test the host is stopped, and no log line may carry the
/// stand-in's token or one of <see cref="Secrets"/>.
/// </summary>
public abstract class StandInSenderTests
{
    /// <summary>How long any one step may take.</summary>
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>This test's Matomo stand-in.</summary>
    protected MatomoStandIn StandIn { get; private set; } = null!;

    /// <summary>The host's logs.</summary>
    protected CapturingLoggerProvider Logs { get; private set; } = null!;

    /// <summary>The host <see cref="StartHostAsync"/> started, until <see cref="StopHostAsync"/>.</summary>
    protected IHost? TestHost { get; private set; }

    /// <summary>Other tokens the test uses, which no log line may carry either.</summary>
    protected virtual IEnumerable<string> Secrets => [];

    [SetUp]
    public async Task StartStandIn()
    {
        Logs = new CapturingLoggerProvider();
        StandIn = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
    }

    [TearDown]
    public async Task StopAll()
    {
        await StopHostAsync();
        var secrets = Secrets.Append(StandIn.Token).ToList();
        Assert.That(Logs.Entries.Where(e => secrets.Any(e.Contains)), Is.Empty, "a token in a log line");
        await StandIn.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    /// <summary>
    /// Starts a host with Matomo tracking to the stand-in: <paramref name="defaults"/> (this class's test settings), then
    /// <paramref name="configure"/>, then <paramref name="services"/> for anything else the host needs.
    /// </summary>
    protected async Task<MatomoTracker> StartHostAsync(Action<MatomoOptions> defaults, Action<MatomoOptions>? configure, Action<MatomoTrackingBuilder, IServiceCollection>? services = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Trace).AddProvider(Logs);
        var matomo = builder.Services.AddMatomoTracking(o =>
        {
            o.TrackerUrl = StandIn.TrackerUrl;
            o.SiteId = StandIn.SiteId;
            defaults(o);
            configure?.Invoke(o);
        });
        services?.Invoke(matomo, builder.Services);
        TestHost = builder.Build();
        await TestHost.StartAsync().WaitAsync(Timeout);
        return TestHost.Services.GetRequiredService<MatomoTracker>();
    }

    /// <summary>Stops and disposes the host, when one runs: its sender drains or settles what it holds.</summary>
    protected async Task StopHostAsync()
    {
        if (TestHost is { } host)
        {
            TestHost = null;
            await host.StopAsync().WaitAsync(Timeout);
            host.Dispose();
        }
    }
}
