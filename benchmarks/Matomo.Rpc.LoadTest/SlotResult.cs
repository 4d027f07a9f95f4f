namespace Matomo.Rpc.LoadTest;

/// <summary>What one mode measured in one round.</summary>
internal sealed class SlotResult
{
    public required Mode Mode { get; init; }

    public required int Round { get; init; }

    /// <summary>Calls started and completed in the measured window.</summary>
    public required long MeasuredCalls { get; init; }

    public required double MeasuredSeconds { get; init; }

    public required LatencyHistogram Latency { get; init; }

    public required long AllocatedBytes { get; init; }

    public required double CpuSeconds { get; init; }

    public required double StandInCpuSeconds { get; init; }

    public required int Gen0 { get; init; }

    public required int Gen2 { get; init; }

    /// <summary>Time the GC paused the process in the measured window.</summary>
    public double GcPauseSeconds { get; init; }

    /// <summary>CPU time of the spool's spill thread in the measured window (Linux; null without a spool or /proc).</summary>
    public double? SpillThreadCpuSeconds { get; init; }

    /// <summary>Hits written to the spool in the measured window.</summary>
    public long SpooledInWindow { get; init; }

    /// <summary>Every call the host completed in this slot (warm-up included): what should become hits.</summary>
    public required long CallsMade { get; init; }

    public required long FailedCalls { get; init; }

    public MatomoStatistics? Tracking { get; init; }

    public long StoredHits { get; init; }

    public long StandInRequests { get; init; }

    public long ExportedActivities { get; init; }

    public double CallsPerSecond => MeasuredCalls / MeasuredSeconds;
}
