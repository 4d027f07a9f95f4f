using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.AspNetCore.Tests.Reliability;

/// <summary>The reliability suite (<see cref="ReliabilityTests"/>) through a real ASP.NET Core host and HTTP client.</summary>
public sealed class MatomoHttpMiddlewareReliabilityTests : ReliabilityTests
{
    protected override Task<ReliabilityHost> StartHostAsync(MatomoStandIn matomo, ReliabilityScenario scenario, Action<MatomoOptions> configure, CapturingLoggerProvider logs, LogLevel minimumLevel) =>
        HttpReliabilityHost.StartAsync(matomo, scenario, configure, logs, minimumLevel);
}
