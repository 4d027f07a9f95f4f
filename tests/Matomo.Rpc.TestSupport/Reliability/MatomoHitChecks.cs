using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>Checks what the stand-in received against MATOMO.md: valid bulk requests, nothing invalid, limits kept.</summary>
public static class MatomoHitChecks
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Every problem found in the hits and requests the stand-in received; empty when all is valid.</summary>
    public static IReadOnlyList<string> Problems(MatomoStandIn matomo)
    {
        var problems = new List<string>();
        // The tracker's own requests; the start-up check's GET ping and Reporting API calls are not hits.
        foreach (var request in matomo.Requests.Where(r => r.Path == "/matomo.php" && r.Method == "POST"))
        {
            CheckRequest(request, problems);
        }

        foreach (var hit in matomo.Hits)
        {
            CheckHit(hit, problems);
        }

        return problems;
    }

    /// <summary>A bulk request: a JSON body whose hits all start with '?', answered with tracked == sent and invalid == 0.</summary>
    public static void CheckRequest(ReceivedRequest request, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(problems);
        if (request.TokenInUrl)
        {
            problems.Add("token_auth in a URL");
        }

        int sent;
        try
        {
            using var body = JsonDocument.Parse(request.Body);
            var requests = body.RootElement.GetProperty("requests");
            sent = requests.GetArrayLength();
            foreach (var item in requests.EnumerateArray())
            {
                var text = item.GetString() ?? string.Empty;
                if (!text.StartsWith('?'))
                {
                    problems.Add("a bulk hit without '?': " + Shorten(text));
                }

                CheckQuery(text, problems);
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            problems.Add("a request body that is not a bulk request: " + ex.GetType().Name);
            return;
        }

        if (request.StatusCode != 200)
        {
            // Outages, 500 rollbacks and injected failures are judged by the scenario, not here.
            return;
        }

        using var answer = JsonDocument.Parse(request.ResponseBody);
        var tracked = answer.RootElement.GetProperty("tracked").GetInt32();
        var invalid = answer.RootElement.GetProperty("invalid").GetInt32();
        if (tracked != sent || invalid != 0)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"bulk answer tracked={tracked} invalid={invalid} for {sent} hits sent"));
        }
    }

    /// <summary>A stored hit: url and action_name within 1024, the cvar shape Matomo stores with names and values within 200.</summary>
    public static void CheckHit(StoredHit hit, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(hit);
        ArgumentNullException.ThrowIfNull(problems);
        foreach (var name in new[] { "url", "action_name" })
        {
            if (hit.Parameters.TryGetValue(name, out var value) && value.Length > 1024)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"{name} of {value.Length} characters"));
            }
        }

        if (hit.CustomVariablesDropped)
        {
            problems.Add("cvar dropped by Matomo: " + Shorten(hit["cvar"]));
        }

        if (hit.Parameters.TryGetValue("cvar", out var cvar))
        {
            using var json = JsonDocument.Parse(cvar);
            foreach (var slot in json.RootElement.EnumerateObject())
            {
                var pair = slot.Value.EnumerateArray().Select(e => e.GetString() ?? string.Empty).ToArray();
                if (!int.TryParse(slot.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index is < 1 or > 5)
                {
                    problems.Add("cvar slot " + slot.Name);
                }

                if (pair.Length != 2 || pair.Any(p => p.Length > 200))
                {
                    problems.Add("cvar entry of lengths " + string.Join(",", pair.Select(p => p.Length)));
                }
            }
        }
    }

    /// <summary>
    /// Each name and value decodes (as PHP's parse_str does) to well-formed UTF-8, with nothing raw that Matomo's bulk
    /// parsing would cut or change, and no parameter is given twice.
    /// </summary>
    public static void CheckQuery(string query, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(problems);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var part in query.TrimStart('?').Split('&'))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? part : part[..equals];
            var value = equals < 0 ? string.Empty : part[(equals + 1)..];
            if (!TryDecode(name, out var decodedName) || !TryDecode(value, out _))
            {
                problems.Add("not well-formed percent-encoded UTF-8: " + Shorten(part));
                continue;
            }

            if (!names.Add(decodedName))
            {
                problems.Add("parameter given twice: " + decodedName);
            }
        }
    }

    private static bool TryDecode(string text, out string decoded)
    {
        decoded = string.Empty;
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '%')
            {
                if (i + 2 >= text.Length || !byte.TryParse(text.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
                {
                    return false;
                }

                bytes.Add(b);
                i += 2;
            }
            else if (c == '+')
            {
                // parse_str decodes '+' as a space.
                bytes.Add((byte)' ');
            }
            else if (c > 0x7E || c <= ' ' || c is '#' or '"' or '\\')
            {
                // What parse_url would cut ('#') or change (controls become '_'), what the JSON body would need escaped,
                // a raw space and non-ASCII: the encoder writes them as %XX (a space as '+'), never raw.
                return false;
            }
            else
            {
                bytes.Add((byte)c);
            }
        }

        try
        {
            decoded = StrictUtf8.GetString([.. bytes]);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    private static string Shorten(string text) => text.Length <= 120 ? text : text[..120] + "…";
}
