using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.AspNetCore.Tests.Reliability;

/// <summary>The reliability suite (<see cref="ReliabilityTests{THost}"/>) through a real ASP.NET Core host and HTTP client.</summary>
public sealed class MatomoHttpMiddlewareReliabilityTests : ReliabilityTests<HttpReliabilityHost>;
