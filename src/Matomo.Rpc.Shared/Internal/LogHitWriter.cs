using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Log-only mode: instead of a request, one readable Information line per hit (action, outcome, kind, duration, visitor,
/// custom variables and the other parameters, decoded from the query that would be sent), and the exact query at Debug.
/// The token is never part of a hit's query.
/// </summary>
internal sealed class LogHitWriter : IHitWriter
{
    // Parameters the readable line shows in their own fields or leaves to the Debug query.
    private static readonly HashSet<string> Shown = new(StringComparer.Ordinal)
    {
        "idsite", "rec", "apiv", "rand", "url", "action_name", "ua", "lang", "urlref", "cip", "cdt", "pf_srv", "gt_ms",
        "bots", "cvar", "cid", "uid", "_id",
    };

    private readonly ILogger _logger;

    public LogHitWriter(ILogger logger) => _logger = logger;

    public string Describe => "the log (log-only mode)";

    public Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken)
    {
        var readable = _logger.IsEnabled(LogLevel.Information);
        var raw = _logger.IsEnabled(LogLevel.Debug);
        foreach (var hit in hits)
        {
            if (readable)
            {
                WriteReadable(hit);
            }

            if (raw)
            {
                Log.HitQuery(_logger, hit.Query);
            }
        }

        return Task.FromResult(SendResult.Ok(hits.Count));
    }

    private void WriteReadable(PendingHit pending)
    {
        var hit = pending.Hit;
        var parameters = MatomoRecordedHit.Parse(pending.Query);
        // A hit replayed from the spool has only its query left.
        var action = parameters.TryGetValue("action_name", out var name) ? name : hit?.ActionName ?? pending.Action;
        var duration = parameters.TryGetValue("pf_srv", out var perf) && long.TryParse(perf, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? ms
            : (long)(hit?.Duration.TotalMilliseconds ?? 0);

        Log.HitLogged(
            _logger,
            Safe(action),
            hit?.Outcome.ToString() ?? "(from the spool)",
            hit is null ? "(from the spool)" : HitEncoder.KindName(hit.Kind),
            duration,
            Safe(Visitor(parameters)),
            Safe(parameters.TryGetValue("cvar", out var cvar) ? CustomVariables(cvar) : string.Empty),
            Safe(Others(parameters)));
    }

    private static string Visitor(IReadOnlyDictionary<string, string> parameters)
    {
        foreach (var key in (ReadOnlySpan<string>)["uid", "cid", "_id"])
        {
            if (parameters.TryGetValue(key, out var value) && value.Length > 0)
            {
                return key + "=" + value;
            }
        }

        return "none";
    }

    /// <summary><c>{"1":["status","OK (0)"],"2":["kind","unary"]}</c> becomes <c>status=OK (0); kind=unary</c>.</summary>
    private static string CustomVariables(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var text = new StringBuilder();
            foreach (var slot in document.RootElement.EnumerateObject())
            {
                if (slot.Value is { ValueKind: JsonValueKind.Array } pair && pair.GetArrayLength() == 2)
                {
                    Append(text, pair[0].ToString(), pair[1].ToString());
                }
            }

            return text.ToString();
        }
        catch (JsonException)
        {
            return json;
        }
        catch (InvalidOperationException)
        {
            return json;
        }
    }

    private static string Others(IReadOnlyDictionary<string, string> parameters)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in parameters)
        {
            if (!Shown.Contains(key))
            {
                Append(text, key, value);
            }
        }

        return text.ToString();
    }

    private static void Append(StringBuilder text, string name, string value)
    {
        if (text.Length > 0)
        {
            text.Append("; ");
        }

        text.Append(name).Append('=').Append(value);
    }

    /// <summary>Callers' text (user agents, per-call values) cannot break the line or forge another one.</summary>
    private static string Safe(string value)
    {
        if (!value.Any(char.IsControl))
        {
            return value;
        }

        var text = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            _ = c switch
            {
                '\n' => text.Append("\\n"),
                '\r' => text.Append("\\r"),
                '\t' => text.Append("\\t"),
                _ when char.IsControl(c) => text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)),
                _ => text.Append(c),
            };
        }

        return text.ToString();
    }
}
