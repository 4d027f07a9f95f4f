using System.Globalization;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The sampling rate of each action (<see cref="MatomoSamplingOptions"/>), resolved once per action and cached with its
/// <see cref="ActionInfo"/>, and the per-call decision, made when the call starts.
/// </summary>
internal sealed class SamplingRules
{
    private readonly double _rate;
    private readonly Dictionary<string, double> _exact = new(StringComparer.Ordinal);
    private readonly KeyValuePair<string, double>[] _prefixes;
    private readonly SampleSource _source;

    public SamplingRules(MatomoSamplingOptions options, SampleSource source)
    {
        _rate = options.Rate;
        KeepErrors = options.KeepErrors;
        _source = source;
        var prefixes = new List<KeyValuePair<string, double>>();
        foreach (var (key, rate) in options.Actions)
        {
            var name = MatomoTracker.NormalizeAction(key);
            if (name.EndsWith('*'))
            {
                prefixes.Add(new(name[..^1], rate));
            }
            else
            {
                _exact[name] = rate;
            }
        }

        // Longest prefix first: the most specific rule wins.
        _prefixes = [.. prefixes.OrderByDescending(p => p.Key.Length)];
    }

    /// <summary>Failed calls are tracked whether sampled or not.</summary>
    public bool KeepErrors { get; }

    /// <summary>The rate of <paramref name="action"/> (normalised): its own, else its longest matching prefix's, else the global one.</summary>
    public double RateFor(string action)
    {
        if (_exact.TryGetValue(action, out var rate))
        {
            return rate;
        }

        foreach (var (prefix, prefixRate) in _prefixes)
        {
            if (action.StartsWith(prefix, StringComparison.Ordinal))
            {
                return prefixRate;
            }
        }

        return _rate;
    }

    /// <summary>Decides one call: true to track it. A rate of 1 asks for no random number, a rate of 0 keeps nothing.</summary>
    public bool Keep(double rate) => rate >= 1 || _source.Next() < rate;

    /// <summary>The rate as recorded on hits (invariant, shortest round-trip form, e.g. <c>0.25</c>), or null at 1.</summary>
    public static string? Text(double rate) => rate < 1 ? rate.ToString(CultureInfo.InvariantCulture) : null;
}
