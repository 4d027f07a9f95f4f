namespace Matomo.Rpc.Internal;

/// <summary>
/// What the <see cref="CapacityMonitor"/> found over its window: calls offered more hits per second than Matomo took,
/// and the sample rate that would fit.
/// </summary>
internal sealed record CapacityReport(double OfferedPerSecond, double TakenPerSecond, double FittingSampleRate, double SampleRate, TimeSpan Window);
