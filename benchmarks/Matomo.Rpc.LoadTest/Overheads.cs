namespace Matomo.Rpc.LoadTest;

/// <summary>A 90 % interval (the 5th and 95th percentiles of a bootstrap); infinite ends where the ratio had no bound.</summary>
internal readonly record struct Interval(double Low, double High)
{
    public static readonly Interval None = new(double.NaN, double.NaN);

    public bool IsKnown => !double.IsNaN(Low) && !double.IsNaN(High);
}

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

    /// <summary>90 % bootstrap interval of <see cref="CpuRatio"/> over the rounds.</summary>
    public Interval CpuRatioInterval { get; init; } = Interval.None;

    /// <summary>90 % bootstrap interval of <see cref="BytesRatio"/> over the rounds.</summary>
    public Interval BytesRatioInterval { get; init; } = Interval.None;

    /// <summary>90 % bootstrap interval of <see cref="ThroughputRatio"/> (calls/s over the baseline's) over the rounds.</summary>
    public Interval ThroughputInterval { get; init; } = Interval.None;

    /// <summary>90 % bootstrap interval of OpenTelemetry's throughput ratio over the rounds.</summary>
    public Interval PeerThroughputInterval { get; init; } = Interval.None;

    /// <summary>NaN when OpenTelemetry's overhead did not rise above the run's noise: a ratio to it would mean nothing.</summary>
    public static double Ratio(double overhead, double peerOverhead) => peerOverhead > 0 ? overhead / peerOverhead : double.NaN;

    /// <summary>
    /// Issue 13's verdict on an overhead ratio (goal: at most <paramref name="most"/>): met when the whole 90 % interval is
    /// at or below it, missed when the whole interval is above it, else undecided (the run cannot tell).
    /// </summary>
    public static string AtMost(Interval interval, double most) =>
        !interval.IsKnown ? "n/a" : interval.High <= most ? "met" : interval.Low > most ? "missed" : "undecided";

    /// <summary>Issue 13's verdict on a throughput ratio (goal: at least <paramref name="least"/>), as <see cref="AtMost"/>.</summary>
    public static string AtLeast(Interval interval, double least) =>
        !interval.IsKnown ? "n/a" : interval.Low >= least ? "met" : interval.High < least ? "missed" : "undecided";
}

/// <summary>
/// The overheads of the Matomo.Rpc modes against OpenTelemetry's, with their uncertainty.
/// <para>
/// The point estimate is the pooled ratio: the mode's CPU (or bytes) per call over all its rounds minus the baseline's,
/// divided by the same for OpenTelemetry. The median of the per-round ratios is also given, but it is not an estimate
/// of that ratio: each round's ratio divides two small differences of large, noisy numbers (about 1 µs out of 25 µs),
/// so a round where OpenTelemetry's overhead happens to come out near zero gives a ratio of ±10 or more, and the
/// per-round ratios are heavy-tailed (the mean of 1/x is not 1/(the mean of x)); their median moves with a single
/// round. The interval is a paired bootstrap over the rounds (the slots of one round run back to back, so the
/// resampling draws whole rounds, every mode's slot of a round together), recomputing the pooled ratio each time; its
/// 5th and 95th percentiles are the 90 % interval. A resample where OpenTelemetry's overhead is not above zero bounds
/// nothing: its ratio counts as unbounded (+∞, or −∞ when the mode's own overhead is negative too).
/// </para>
/// </summary>
internal static class Overheads
{
    private const int Resamples = 4000;

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
            var rounds = new List<(SlotResult Slot, SlotResult Otel, SlotResult Baseline)>();
            foreach (var round in results.Select(r => r.Round).Distinct())
            {
                var slot = results.FirstOrDefault(r => r.Round == round && r.Mode == summary.Mode);
                var otel = results.FirstOrDefault(r => r.Round == round && r.Mode == Mode.OpenTelemetry);
                var baseline = results.FirstOrDefault(r => r.Round == round && r.Mode == Mode.Baseline);
                if (slot is null || otel is null || baseline is null || slot.MeasuredCalls == 0 || otel.MeasuredCalls == 0 || baseline.MeasuredCalls == 0)
                {
                    continue;
                }

                rounds.Add((slot, otel, baseline));
                roundCpu.Add(Overhead.Ratio(Cpu(slot) - Cpu(baseline), Cpu(otel) - Cpu(baseline)));
                roundBytes.Add(Overhead.Ratio(Bytes(slot) - Bytes(baseline), Bytes(otel) - Bytes(baseline)));
            }

            var intervals = Bootstrap(rounds);
            return new Overhead(
                summary.Mode,
                summary.CpuOverheadMicros,
                peer.CpuOverheadMicros,
                summary.BytesOverhead,
                peer.BytesOverhead,
                Report.Median([.. roundCpu.Where(r => !double.IsNaN(r))]),
                Report.Median([.. roundBytes.Where(r => !double.IsNaN(r))]),
                summary.ThroughputRatio,
                peer.ThroughputRatio)
            {
                CpuRatioInterval = intervals.Cpu,
                BytesRatioInterval = intervals.Bytes,
                ThroughputInterval = intervals.Throughput,
                PeerThroughputInterval = intervals.PeerThroughput,
            };
        })];

        static double Cpu(SlotResult s) => s.CpuSeconds * 1e6 / s.MeasuredCalls;

        static double Bytes(SlotResult s) => (double)s.AllocatedBytes / s.MeasuredCalls;
    }

    /// <summary>Paired bootstrap over the rounds of the pooled ratios (see the class summary). Fixed seed: reruns of one report agree.</summary>
    private static (Interval Cpu, Interval Bytes, Interval Throughput, Interval PeerThroughput) Bootstrap(
        List<(SlotResult Slot, SlotResult Otel, SlotResult Baseline)> rounds)
    {
        if (rounds.Count < 3)
        {
            return (Interval.None, Interval.None, Interval.None, Interval.None);
        }

        var random = new Random(13);
        var cpu = new double[Resamples];
        var bytes = new double[Resamples];
        var throughput = new double[Resamples];
        var peerThroughput = new double[Resamples];
        var mode = new Totals[3];
        for (var b = 0; b < Resamples; b++)
        {
            Array.Clear(mode);
            for (var i = 0; i < rounds.Count; i++)
            {
                var (slot, otel, baseline) = rounds[random.Next(rounds.Count)];
                mode[0].Add(slot);
                mode[1].Add(otel);
                mode[2].Add(baseline);
            }

            cpu[b] = Unbounded(mode[0].CpuMicros - mode[2].CpuMicros, mode[1].CpuMicros - mode[2].CpuMicros);
            bytes[b] = Unbounded(mode[0].BytesPerCall - mode[2].BytesPerCall, mode[1].BytesPerCall - mode[2].BytesPerCall);
            throughput[b] = mode[0].CallsPerSecond / mode[2].CallsPerSecond;
            peerThroughput[b] = mode[1].CallsPerSecond / mode[2].CallsPerSecond;
        }

        return (Percentiles(cpu), Percentiles(bytes), Percentiles(throughput), Percentiles(peerThroughput));

        static double Unbounded(double overhead, double peerOverhead) =>
            peerOverhead > 0 ? overhead / peerOverhead : overhead < 0 ? double.NegativeInfinity : double.PositiveInfinity;
    }

    private static Interval Percentiles(double[] values)
    {
        Array.Sort(values);
        return new Interval(values[(int)Math.Floor(0.05 * (values.Length - 1))], values[(int)Math.Ceiling(0.95 * (values.Length - 1))]);
    }

    /// <summary>One mode's slots of a resample, pooled.</summary>
    private struct Totals
    {
        private double _calls;
        private double _seconds;
        private double _cpuSeconds;
        private double _bytes;

        public readonly double CpuMicros => _cpuSeconds * 1e6 / _calls;

        public readonly double BytesPerCall => _bytes / _calls;

        public readonly double CallsPerSecond => _calls / _seconds;

        public void Add(SlotResult slot)
        {
            _calls += slot.MeasuredCalls;
            _seconds += slot.MeasuredSeconds;
            _cpuSeconds += slot.CpuSeconds;
            _bytes += slot.AllocatedBytes;
        }
    }
}
