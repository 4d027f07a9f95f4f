namespace Matomo.Rpc.Internal;

/// <summary>
/// Where sampling decisions get their randomness: a number in [0, 1) per call, independent from call to call. The default
/// is <see cref="Random.Shared"/> (thread-safe, allocation-free); tests register a seeded one to make decisions repeatable.
/// </summary>
internal sealed class SampleSource
{
    private readonly Func<double> _next;

    public SampleSource(Func<double> next)
    {
        _next = next;
    }

    public static SampleSource Shared { get; } = new(Random.Shared.NextDouble);

    /// <summary>A repeatable source: the same seed gives the same decisions in the same order (safe across threads).</summary>
    public static SampleSource Seeded(int seed)
    {
        var random = new Random(seed);
        return new(() =>
        {
            lock (random)
            {
                return random.NextDouble();
            }
        });
    }

    public double Next() => _next();
}
