using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.SignalR.Tests.Reliability;

/// <summary>The reliability suite (<see cref="ReliabilityTests{THost}"/>) through a real SignalR host and clients.</summary>
public sealed class MatomoHubFilterReliabilityTests : ReliabilityTests<SignalRReliabilityHost>;
