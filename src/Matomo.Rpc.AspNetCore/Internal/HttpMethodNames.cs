namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>
/// The method recorded for a request: a standard method as it is, a method the options list, or <c>OTHER</c>, so that
/// a client cannot create actions in Matomo by inventing methods. Looking it up allocates nothing.
/// </summary>
internal sealed class HttpMethodNames
{
    public const string Other = "OTHER";

    private static readonly string[] Standard =
    [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "QUERY",
    ];

    private readonly HashSet<string> _known;
    private readonly HashSet<string>? _allowed;
    private readonly HashSet<string> _ignored;

    public HttpMethodNames(MatomoHttpOptions options)
    {
        _known = new HashSet<string>(Standard, StringComparer.Ordinal);
        _known.UnionWith(options.AllowedMethods.Select(Normalize));
        _allowed = options.AllowedMethods.Count == 0 ? null : new HashSet<string>(options.AllowedMethods.Select(Normalize), StringComparer.Ordinal);
        _ignored = new HashSet<string>(options.IgnoredMethods.Select(Normalize), StringComparer.Ordinal);
    }

    /// <summary>The name to record for <paramref name="method"/>, or null when requests with it are not tracked.</summary>
    public string? Recorded(string method)
    {
        var name = _known.TryGetValue(method, out var known) ? known : Other;
        if (_ignored.Contains(name) || (_allowed is not null && !_allowed.Contains(name)))
        {
            return null;
        }

        return name;
    }

    /// <summary>True when <paramref name="method"/> is an HTTP token (RFC 9110 section 5.6.2).</summary>
    public static bool IsToken(string method)
    {
        foreach (var c in method)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return method.Length > 0;
    }

    private static string Normalize(string method) => method.Trim().ToUpperInvariant();
}
