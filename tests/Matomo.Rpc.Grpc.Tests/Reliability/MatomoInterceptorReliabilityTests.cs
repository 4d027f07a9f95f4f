using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>The reliability suite (<see cref="ReliabilityTests{THost}"/>) through a real gRPC host and client.</summary>
public sealed class MatomoInterceptorReliabilityTests : ReliabilityTests<GrpcReliabilityHost>;
