using System.Globalization;

namespace Matomo.Rpc.TestSupport;

/// <summary>A hit the stand-in stored, as a real Matomo would have recorded it.</summary>
public sealed class StoredHit
{
    internal StoredHit(
        IReadOnlyDictionary<string, string> parameters,
        string query,
        DateTimeOffset receivedAt,
        bool bulk,
        IReadOnlyList<KeyValuePair<string, string>> customVariables,
        bool customVariablesDropped,
        IReadOnlyDictionary<int, string> dimensions,
        long? serverTimeMs,
        DateTimeOffset time)
    {
        Parameters = parameters;
        Query = query;
        ReceivedAt = receivedAt;
        Bulk = bulk;
        CustomVariables = customVariables;
        CustomVariablesDropped = customVariablesDropped;
        Dimensions = dimensions;
        ServerTimeMs = serverTimeMs;
        Time = time;
    }

    /// <summary>The hit's parameters, decoded (the last one wins on duplicates; an invalid <c>_id</c> is removed, as Matomo ignores it).</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; }

    /// <summary>The raw query string of the hit (for a bulk hit, the request string; for a single hit, query and body merged as received).</summary>
    public string Query { get; }

    /// <summary>When the stand-in received the request.</summary>
    public DateTimeOffset ReceivedAt { get; }

    /// <summary>Whether the hit came in a bulk request.</summary>
    public bool Bulk { get; }

    /// <summary>The action-scope custom variables Matomo stored from <c>cvar</c>, in slot order; empty when the shape is wrong or the plugin is off.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> CustomVariables { get; }

    /// <summary>True when a <c>cvar</c> was sent but Matomo dropped it (wrong shape, or the CustomVariables plugin is not active).</summary>
    public bool CustomVariablesDropped { get; }

    /// <summary>Custom dimension values stored, by dimension id (only configured, active dimensions; trimmed and cut to 250).</summary>
    public IReadOnlyDictionary<int, string> Dimensions { get; }

    /// <summary>The <c>pf_srv</c> Matomo stored (integer ms), or null when absent, not an integer, too large, or on an event.</summary>
    public long? ServerTimeMs { get; }

    /// <summary>The time Matomo recorded the hit at: <c>cdt</c> when given and accepted, else <see cref="ReceivedAt"/>.</summary>
    public DateTimeOffset Time { get; }

    /// <summary>A parameter by name; throws <see cref="KeyNotFoundException"/> naming the parameter when absent.</summary>
    public string this[string name] => Parameters.TryGetValue(name, out var value)
        ? value
        : throw new KeyNotFoundException(string.Create(CultureInfo.InvariantCulture, $"The hit has no parameter '{name}'. Query: {Query}"));

    /// <summary>Whether the hit has the parameter.</summary>
    public bool Has(string name) => Parameters.ContainsKey(name);

    /// <summary>A custom variable's value by name, or null.</summary>
    public string? CustomVariable(string name)
    {
        foreach (var (key, value) in CustomVariables)
        {
            if (key == name)
            {
                return value;
            }
        }

        return null;
    }

    /// <inheritdoc />
    public override string ToString() => Query;
}
