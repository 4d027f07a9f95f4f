using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>The reliability suite (<see cref="ReliabilityTests"/>) through a real gRPC host and client.</summary>
public sealed class MatomoInterceptorReliabilityTests : ReliabilityTests
{
    protected override Task<ReliabilityHost> StartHostAsync(MatomoStandIn matomo, ReliabilityScenario scenario, Action<MatomoOptions> configure, CapturingLoggerProvider logs, LogLevel minimumLevel) =>
        GrpcReliabilityHost.StartAsync(matomo, configure, logs, minimumLevel);
}
