using System.Collections.ObjectModel;

namespace Matomo.Rpc;

/// <summary>A hit as <see cref="InMemoryMatomoSink"/> recorded it: the hit and the exact query string that would be sent.</summary>
public sealed class MatomoRecordedHit
{
    internal MatomoRecordedHit(MatomoHit hit, string query)
    {
        Hit = hit;
        Query = query;
        Parameters = Parse(query);
    }

    /// <summary>The hit.</summary>
    public MatomoHit Hit { get; }

    /// <summary>The query string that would be sent, starting with '?'.</summary>
    public string Query { get; }

    /// <summary>The query string's parameters, decoded.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; }

    /// <summary>A decoded parameter, or null when the hit does not have it.</summary>
    public string? this[string name] => Parameters.TryGetValue(name, out var value) ? value : null;

    /// <summary>
    /// Parses a Matomo query string (with or without the leading '?') into decoded parameters, as PHP does: '+' is a
    /// space, %XX a byte.
    /// </summary>
    internal static IReadOnlyDictionary<string, string> Parse(string query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString((eq < 0 ? pair : pair[..eq]).Replace('+', ' '));
            result[name] = eq < 0 ? string.Empty : Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' '));
        }

        return new ReadOnlyDictionary<string, string>(result);
    }
}
