using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>How <see cref="ReliabilityTests{THost}"/> starts an adapter's <see cref="ReliabilityHost"/>.</summary>
public interface IReliabilityHostFactory
{
    /// <summary>
    /// Starts the adapter's host tracking into <paramref name="matomo"/> with <paramref name="configure"/> applied after
    /// the host's own settings; logs at <paramref name="minimumLevel"/> and above go to <paramref name="logs"/>.
    /// </summary>
    static abstract Task<ReliabilityHost> StartAsync(
        MatomoStandIn matomo,
        ReliabilityScenario scenario,
        Action<MatomoOptions> configure,
        CapturingLoggerProvider logs,
        LogLevel minimumLevel);
}
