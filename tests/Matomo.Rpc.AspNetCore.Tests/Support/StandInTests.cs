using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>Tests against a fresh Matomo stand-in each, with the logs of the test's host captured.</summary>
public abstract class StandInTests
{
    /// <summary>This test's Matomo stand-in.</summary>
    protected MatomoStandIn StandIn { get; private set; } = null!;

    /// <summary>The logs of this test's host, for those that pass them on.</summary>
    protected CapturingLoggerProvider Logs { get; private set; } = null!;

    [SetUp]
    public async Task StartStandIn()
    {
        Logs = new CapturingLoggerProvider();
        StandIn = await MatomoStandIn.StartAsync().WaitAsync(HttpTestHost.Timeout);
    }

    [TearDown]
    public async Task StopStandIn() => await StandIn.DisposeAsync();
}
