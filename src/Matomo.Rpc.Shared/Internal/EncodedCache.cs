namespace Matomo.Rpc.Internal;

/// <summary>
/// Percent-encoded values that repeat from hit to hit (an action's URL, a caller's user agent), encoded once. Bounded:
/// full, it starts over; a key longer than any value Matomo keeps is never cached (nor hashed). Not thread-safe (one
/// per encoder).
/// </summary>
internal sealed class EncodedCache<TKey>
    where TKey : notnull
{
    private const int MaxKeyChars = 2 * Limits.Url;

    private readonly Dictionary<TKey, byte[]> _entries = [];
    private readonly int _capacity;

    public EncodedCache(int capacity) => _capacity = capacity;

    public int Count => _entries.Count;

    /// <summary>Whether a key of <paramref name="keyChars"/> characters is cached (longer ones are encoded every time).</summary>
    public static bool Caches(int keyChars) => keyChars <= MaxKeyChars;

    /// <summary>The percent-encoded UTF-8 of <paramref name="text"/>(<paramref name="key"/>).</summary>
    public byte[] Get(TKey key, int keyChars, Func<TKey, string> text)
    {
        if (!Caches(keyChars))
        {
            return QueryWriter.EscapeToArray(text(key));
        }

        if (!_entries.TryGetValue(key, out var escaped))
        {
            escaped = QueryWriter.EscapeToArray(text(key));
            if (_entries.Count >= _capacity)
            {
                _entries.Clear();
            }

            _entries[key] = escaped;
        }

        return escaped;
    }
}
