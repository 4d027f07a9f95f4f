using System.Globalization;

namespace Matomo.Rpc.Internal;

/// <summary>Which Tracking API parameters service code may set, and which values Matomo accepts for them.</summary>
internal static class ParameterRules
{
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal)
    {
        "idsite", "rec", "apiv", "token_auth", "cip", "cdt", "send_image", "rand",
    };

    public static bool IsReserved(string name) => Reserved.Contains(name);

    /// <summary>Returns null when <paramref name="name"/> may be set per call, else why not.</summary>
    public static string? CheckName(string name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return "A Matomo parameter name must not be empty.";
        }

        if (name.Length > Limits.ParameterName)
        {
            return $"A Matomo parameter name is at most {Limits.ParameterName} characters.";
        }

        if (Reserved.Contains(name))
        {
            return $"'{name}' is set by the tracker (idsite, rec, apiv, token_auth, cip, cdt, send_image and rand are) and cannot be set per call.";
        }

        if (name is "cvar" or "_cvar")
        {
            return $"'{name}' cannot be set directly: use AddCustomVariable(name, value), which writes the shape Matomo stores.";
        }

        if (name is "ca")
        {
            return "'ca' cannot be set per call: Matomo answers 500 for it unless a plugin handles it, which rolls back every hit of the batch. Use the TrackCrashes option for Crash Analytics.";
        }

        // Matomo reads every hit with PHP's parse_str, which turns '.' and a lone '[' into '_' and "x[...]" into an array:
        // a name with them would reach Matomo as another one ("pf.srv" as pf_srv, past the checks here).
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                return $"'{name}' is not a Matomo Tracking API parameter name (letters, digits, _ and - only; Matomo would read '.' and '[' as other names).";
            }
        }

        return null;
    }

    /// <summary>Returns null when <paramref name="value"/> is one Matomo accepts for <paramref name="name"/>, else why not.</summary>
    public static string? CheckValue(string name, string value)
    {
        if (name is "cid" or "_id" && !IsVisitorId(value))
        {
            return $"'{name}' must be exactly 16 hexadecimal characters: Matomo {(name == "cid" ? "rejects the hit (400)" : "ignores it")} otherwise.";
        }

        if (name.StartsWith("pf_", StringComparison.Ordinal)
            && !(long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms <= Limits.PerfMax))
        {
            return $"'{name}' must be a whole number of milliseconds from 0 to {Limits.PerfMax}: Matomo drops fractions and refuses negative values. Use MeasurePerf or SetPerf.";
        }

        return null;
    }

    /// <summary>
    /// Returns null when Matomo takes every parameter of an encoded hit <paramref name="query"/> ("?a=1&amp;b=2"), else
    /// why it would refuse the hit: a <c>cid</c> that is not 16 hex characters, a <c>pf_*</c> that is not a whole number
    /// of milliseconds up to its limit, <c>cip</c> without a token Matomo trusts. Checks what the library adds as much as
    /// what service code set, for a Matomo that queues hits (QueuedTracking): it refuses a hit only while processing its
    /// queue, and then drops every later hit of the same request too. (A <c>cdt</c> too old for a tokenless client is
    /// dropped before this, by delivery.)
    /// </summary>
    public static string? CheckQuery(string query, bool tokenTrusted)
    {
        var rest = query.AsSpan();
        if (rest.StartsWith("?"))
        {
            rest = rest[1..];
        }

        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf('&');
            var pair = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 1)..];
            var eq = pair.IndexOf('=');
            var name = eq < 0 ? pair : pair[..eq];
            var value = eq < 0 ? [] : pair[(eq + 1)..];
            if (name.SequenceEqual("cid") && !IsVisitorId(value))
            {
                return "its cid is not exactly 16 hexadecimal characters.";
            }

            if (name.StartsWith("pf_") && !(long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms <= Limits.PerfMax))
            {
                return $"its {name} is not a whole number of milliseconds from 0 to {Limits.PerfMax}.";
            }

            if (name.SequenceEqual("cip") && !tokenTrusted)
            {
                return "it has cip without a token Matomo trusts (Matomo:TokenAuth).";
            }
        }

        return null;
    }

    public static void ValidateName(string name, string paramName)
    {
        ArgumentNullException.ThrowIfNull(name, paramName);
        if (CheckName(name) is { } error)
        {
            throw new ArgumentException(error, paramName);
        }
    }

    public static void ValidateValue(string name, string value, string paramName)
    {
        if (CheckValue(name, value) is { } error)
        {
            throw new ArgumentException(error, paramName);
        }
    }

    public static void ValidatePerfName(string name, string paramName)
    {
        ArgumentNullException.ThrowIfNull(name, paramName);
        if (!name.StartsWith("pf_", StringComparison.Ordinal) || CheckName(name) is not null)
        {
            throw new ArgumentException($"'{name}' is not a Matomo performance parameter: use pf_srv, pf_net, pf_tfr, pf_dm1, pf_dm2 or pf_onl.", paramName);
        }
    }

    public static long ToPerfMilliseconds(TimeSpan elapsed)
    {
        var ms = (long)Math.Round(elapsed.TotalMilliseconds, MidpointRounding.AwayFromZero);
        return Math.Clamp(ms, 0, Limits.PerfMax);
    }

    public static bool IsVisitorId(string value) => IsVisitorId(value.AsSpan());

    public static bool IsVisitorId(ReadOnlySpan<char> value)
    {
        if (value.Length != 16)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
