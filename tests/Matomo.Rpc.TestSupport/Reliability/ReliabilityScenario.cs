namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>The scenario a <see cref="ReliabilityHost"/> is started for, for the few settings an adapter needs per scenario.</summary>
public enum ReliabilityScenario
{
    Outage,
    SlowMatomo,
    PoisonedBatch,
    Shutdown,
    HostileInput,
    Secrets,
}
