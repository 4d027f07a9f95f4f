namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>What a run of hostile callers did: the calls made, the hits they should have made, and what failed.</summary>
public sealed record HostileRun(int Calls, int ExpectedHits, IReadOnlyCollection<string> Failures);
