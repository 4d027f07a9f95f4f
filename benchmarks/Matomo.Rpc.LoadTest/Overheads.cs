namespace Matomo.Rpc.LoadTest;

/// <summary>One tracked mode's overhead (cost per call above the baseline) against OpenTelemetry's, in the same run.</summary>
internal sealed record Overhead(
    Mode Mode,
    double CpuOverheadMicros,
    double PeerCpuOverheadMicros,
    double BytesOverhead,
    double PeerBytesOverhead,
    double MedianRoundCpuRatio,
    double MedianRoundBytesRatio,
    double ThroughputRatio,
    double PeerThroughputRatio)
{
    public double CpuRatio => Ratio(CpuOverheadMicros, PeerCpuOverheadMicros);

    public double BytesRatio => Ratio(BytesOverhead, PeerBytesOverhead);

    /// <summary>NaN when OpenTelemetry's overhead did not rise above the run's noise: a ratio to it would mean nothing.</summary>
    public static double Ratio(double overhead, double peerOverhead) => peerOverhead > 0 ? overhead / peerOverhead : double.NaN;
}

internal static class Overheads
{
    /// <summary>
    /// For every Matomo.Rpc mode: its overhead over the baseline divided by OpenTelemetry's, pooled over the rounds and,
    /// because the machine drifts, also per round (the slots of one round run back to back) with the median reported.
    /// </summary>
    public static IReadOnlyList<Overhead> Against(IReadOnlyList<Report.ModeSummary> rows, IReadOnlyList<SlotResult> results)
    {
        if (rows.FirstOrDefault(m => m.Mode == Mode.OpenTelemetry) is not { } peer)
        {
            return [];
        }

        return [.. rows.Where(m => m.Mode.UsesMatomoRpc()).Select(summary =>
        {
            var roundCpu = new List<double>();
            var roundBytes = new List<double>();
            foreach (var round in results.Select(r => r.Round).Distinct())
            {
                var slot = results.FirstOrDefault(r => r.Round == round && r.Mode == summary.Mode);
                var otel = results.FirstOrDefault(r => r.Round == round && r.Mode == Mode.OpenTelemetry);
                var baseline = results.FirstOrDefault(r => r.Round == round && r.Mode == Mode.Baseline);
                if (slot is null || otel is null || baseline is null || slot.MeasuredCalls == 0 || otel.MeasuredCalls == 0 || baseline.MeasuredCalls == 0)
                {
                    continue;
                }

                roundCpu.Add(Overhead.Ratio(Cpu(slot) - Cpu(baseline), Cpu(otel) - Cpu(baseline)));
                roundBytes.Add(Overhead.Ratio(Bytes(slot) - Bytes(baseline), Bytes(otel) - Bytes(baseline)));
            }

            return new Overhead(
                summary.Mode,
                summary.CpuOverheadMicros,
                peer.CpuOverheadMicros,
                summary.BytesOverhead,
                peer.BytesOverhead,
                Report.Median([.. roundCpu.Where(r => !double.IsNaN(r))]),
                Report.Median([.. roundBytes.Where(r => !double.IsNaN(r))]),
                summary.ThroughputRatio,
                peer.ThroughputRatio);
        })];

        static double Cpu(SlotResult s) => s.CpuSeconds * 1e6 / s.MeasuredCalls;

        static double Bytes(SlotResult s) => (double)s.AllocatedBytes / s.MeasuredCalls;
    }
}
