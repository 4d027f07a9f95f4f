namespace Matomo.Rpc.LoadTest;

/// <summary>
/// Call latencies in log-linear buckets (1 % wide, from 1 µs to 100 s), allocated before the measurement so that
/// recording allocates nothing. One per caller; merged at the end.
/// </summary>
internal sealed class LatencyHistogram
{
    private const double Growth = 1.01;
    private static readonly double LogGrowth = Math.Log(Growth);
    private static readonly int BucketCount = (int)Math.Ceiling(Math.Log(100_000_000) / LogGrowth) + 2;

    private readonly long[] _counts = new long[BucketCount];

    public long Count { get; private set; }

    public void Record(TimeSpan elapsed)
    {
        var micros = Math.Max(1.0, elapsed.Ticks / 10.0);
        var index = Math.Min(BucketCount - 1, (int)(Math.Log(micros) / LogGrowth));
        _counts[index]++;
        Count++;
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < BucketCount; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
    }

    /// <summary>The latency at quantile <paramref name="q"/> (0..1), as the upper bound of its bucket, in milliseconds.</summary>
    public double Percentile(double q)
    {
        if (Count == 0)
        {
            return double.NaN;
        }

        var rank = (long)Math.Ceiling(q * Count);
        long seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Pow(Growth, i + 1) / 1000.0;
            }
        }

        return Math.Pow(Growth, BucketCount) / 1000.0;
    }
}
