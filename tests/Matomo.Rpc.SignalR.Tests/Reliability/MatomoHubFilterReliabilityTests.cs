using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.SignalR.Tests.Reliability;

/// <summary>The reliability suite (<see cref="ReliabilityTests"/>) through a real SignalR host and clients.</summary>
public sealed class MatomoHubFilterReliabilityTests : ReliabilityTests
{
    protected override Task<ReliabilityHost> StartHostAsync(MatomoStandIn matomo, ReliabilityScenario scenario, Action<MatomoOptions> configure, CapturingLoggerProvider logs, LogLevel minimumLevel) =>
        SignalRReliabilityHost.StartAsync(matomo, scenario, configure, logs, minimumLevel);
}
