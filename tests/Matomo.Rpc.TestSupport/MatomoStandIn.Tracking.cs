using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.TestSupport;

public sealed partial class MatomoStandIn
{
    private const string GenericError = "<!DOCTYPE html><html><head><title>Matomo</title></head><body><p>An error occurred.</p></body></html>";
    private const string EmptyRequestText = "This resource is part of Matomo. Keep full control of your data with the leading free and open source digital analytics platform for web and mobile.";
    private static readonly string[] PerfParameters = ["pf_net", "pf_srv", "pf_tfr", "pf_dm1", "pf_dm2", "pf_onl"];
    private static readonly string[] CdtFormats = ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd"];

    private enum HitOutcome
    {
        Stored,
        NotRecorded,
        Invalid,
        Failed,
    }

    /// <summary>
    /// Processes the QueuedTracking queue as the plugin's workers do (seen with plugin 5.1.1): per request, in order, a hit
    /// with an unknown or missing <c>idsite</c> is skipped; any other hit Matomo refuses (bad <c>cid</c>, negative
    /// <c>pf_*</c>, <c>cip</c> or an old <c>cdt</c> without a token, one that throws) drops itself and every later hit of
    /// its request. Returns the hits stored.
    /// </summary>
    public int ProcessQueue()
    {
        List<QueuedRequest> requests;
        lock (_gate)
        {
            requests = [.. _queue];
            _queue.Clear();
        }

        var store = new List<StoredHit>();
        foreach (var queued in requests)
        {
            foreach (var (parameters, raw, token) in HitsOf(queued))
            {
                if (!int.TryParse(parameters.GetValueOrDefault("idsite"), NumberStyles.None, CultureInfo.InvariantCulture, out var site) || site != SiteId)
                {
                    continue;
                }

                var outcome = Process(parameters, raw, token, queued.UserAgent, queued.ReceivedAt, bulk: true, out var hit);
                if (outcome is HitOutcome.Invalid or HitOutcome.Failed)
                {
                    break;
                }

                if (hit is not null)
                {
                    store.Add(hit);
                }
            }
        }

        AddStored(store);
        return store.Count;
    }

    private Answer Queue(HttpRequest request, Dictionary<string, string> query, string queryString, string body, DateTimeOffset receivedAt)
    {
        var noImage = query.GetValueOrDefault("send_image") == "0";
        if (QueueBackendDown)
        {
            return noImage ? new Answer(204, string.Empty, string.Empty) : new Answer(500, "image/gif", string.Empty) { Gif = true };
        }

        var queued = new QueuedRequest(request.Method, request.ContentType, request.Headers.UserAgent.ToString(), query, queryString, body, receivedAt);

        // The one thing QueuedTracking 5.1.1 checks when it takes a request (seen on Matomo 5.0.2): a hit with cip and no
        // visitor id (cid, _id: the queue is chosen by the visitor, which then comes from the IP) needs a token with write
        // access to its site, else the whole request is refused with 400 (the GIF), nothing is queued, and a token Matomo
        // had to check and could not accept is a failed login of the client's IP. With a visitor id it is not checked.
        var cipRefused = false;
        var loginFailed = false;
        foreach (var (parameters, _, token) in HitsOf(queued))
        {
            if (parameters.ContainsKey("cip") && !parameters.ContainsKey("cid") && !parameters.ContainsKey("_id") && !(IsTrackingToken(token) && parameters.GetValueOrDefault("idsite") == SiteId.ToString(CultureInfo.InvariantCulture)))
            {
                cipRefused = true;
                loginFailed |= FailsLogin(parameters, token);
            }
        }

        if (cipRefused)
        {
            CountFailedLogin(loginFailed);
            return new Answer(400, "image/gif", string.Empty) { Gif = true };
        }

        lock (_gate)
        {
            _queue.Add(queued);
        }

        return noImage ? new Answer(204, string.Empty, string.Empty) : new Answer(200, "image/gif", string.Empty) { Gif = true };
    }

    private static IEnumerable<(Dictionary<string, string> Parameters, string Raw, string? Token)> HitsOf(QueuedRequest queued)
    {
        if (queued.Body.IndexOf("\"requests\"", StringComparison.Ordinal) > 0)
        {
            List<string> items = [];
            string? token = queued.Query.GetValueOrDefault("token_auth");
            try
            {
                using var json = JsonDocument.Parse(queued.Body);
                if (json.RootElement.TryGetProperty("token_auth", out var t) && t.ValueKind == JsonValueKind.String)
                {
                    token = t.GetString();
                }

                if (json.RootElement.TryGetProperty("requests", out var list) && list.ValueKind == JsonValueKind.Array)
                {
                    items.AddRange(list.EnumerateArray().Where(i => i.ValueKind == JsonValueKind.String).Select(i => i.GetString()!));
                }
            }
            catch (JsonException)
            {
            }

            foreach (var item in items)
            {
                if (ParseBulkRequest(item) is not { } parameters)
                {
                    continue;
                }

                yield return (parameters, item, parameters.GetValueOrDefault("token_auth") ?? token);
            }

            yield break;
        }

        var single = HttpMethods.IsPost(queued.Method) && queued.Body.Length > 0 && IsForm(queued.ContentType)
            ? ParseQuery(queued.Body)
            : new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in queued.Query)
        {
            single[name] = value;
        }

        if (single.Count > 0)
        {
            yield return (single, queued.QueryString, single.GetValueOrDefault("token_auth"));
        }
    }

    private Answer Track(HttpRequest request, Dictionary<string, string> query, string queryString, string body, DateTimeOffset receivedAt)
    {
        // Matomo takes the bulk path when the raw body mentions "requests" (BulkTracking's own test, PHP's strpos: not at
        // position 0). Then a bad hit inside is counted as invalid and answered 200, never 400.
        if (body.IndexOf("\"requests\"", StringComparison.Ordinal) > 0 || body.IndexOf("'requests'", StringComparison.Ordinal) > 0)
        {
            return Bulk(request, query, body, receivedAt);
        }

        // Otherwise it is one hit from the query and, as PHP's $_POST, a form body only (a JSON or text body is ignored).
        var parameters = HttpMethods.IsPost(request.Method) && body.Length > 0 && IsForm(request.ContentType)
            ? ParseQuery(body)
            : new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in query)
        {
            parameters[name] = value;
        }

        if (parameters.Count == 0)
        {
            // Seen: a GET without parameters gets the "This resource is part of Matomo" page with 200; a POST without any
            // (empty, JSON that is not a bulk request, text) gets the same page with 400: a body that is not a bulk request.
            return new Answer(HttpMethods.IsPost(request.Method) ? 400 : 200, "text/html; charset=utf-8", EmptyRequestText);
        }

        var raw = queryString.Length > 0 ? queryString + (body.Length > 0 ? "&" + body : string.Empty) : "?" + body;
        var userAgent = request.Headers.UserAgent.ToString();
        var outcome = Process(parameters, raw, parameters.GetValueOrDefault("token_auth"), userAgent, receivedAt, bulk: false, out var hit);
        switch (outcome)
        {
            case HitOutcome.Invalid:
                CountFailedLogin(FailsLogin(parameters, parameters.GetValueOrDefault("token_auth")));
                return new Answer(400, "text/html; charset=utf-8", GenericError);
            case HitOutcome.Failed:
                return new Answer(500, "text/html; charset=utf-8", GenericError);
        }

        var store = hit is null ? null : new List<StoredHit> { hit };
        return parameters.GetValueOrDefault("send_image") == "0"
            ? new Answer(204, string.Empty, string.Empty) { Store = store }
            : new Answer(200, "image/gif", string.Empty) { Gif = true, Store = store };
    }

    private Answer Bulk(HttpRequest request, Dictionary<string, string> query, string body, DateTimeOffset receivedAt)
    {
        List<string?> requests = [];
        string? token = query.GetValueOrDefault("token_auth");
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (json.RootElement.TryGetProperty("token_auth", out var t) && t.ValueKind == JsonValueKind.String)
                {
                    token = t.GetString();
                }

                if (json.RootElement.TryGetProperty("requests", out var list) && list.ValueKind == JsonValueKind.Array)
                {
                    foreach (var item in list.EnumerateArray())
                    {
                        requests.Add(item.ValueKind == JsonValueKind.String ? item.GetString() : null);
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Matomo answers a body it cannot decode with a success that tracked nothing (seen).
            requests.Clear();
        }

        if (!string.IsNullOrEmpty(token) && IpBlocked && requests.Count > 0)
        {
            // Matomo's brute-force check runs for every bulk request with a token and hits (an empty list is answered
            // before), before any hit is read.
            return new Answer(500, "application/json; charset=utf-8", """{"status":"error","tracked":0,"invalid":0}""");
        }

        var authenticated = IsTrackingToken(token);
        var loginFailed = false;
        var userAgent = request.Headers.UserAgent.ToString();
        var tracked = 0;
        var invalid = 0;
        var invalidIndices = new List<int>();
        var store = new List<StoredHit>();
        var index = 0;
        foreach (var item in requests)
        {
            if (item is null || ParseBulkRequest(item) is not { } parameters)
            {
                // No query part: dropped without a word, and the indices shift.
                continue;
            }

            var hitToken = parameters.GetValueOrDefault("token_auth") ?? token;
            var outcome = Process(parameters, item, hitToken, userAgent, receivedAt, bulk: true, out var hit);
            loginFailed |= outcome == HitOutcome.Invalid && FailsLogin(parameters, hitToken);
            switch (outcome)
            {
                case HitOutcome.Stored:
                    store.Add(hit!);
                    tracked++;
                    break;
                case HitOutcome.NotRecorded:
                    tracked++;
                    break;
                case HitOutcome.Invalid:
                    invalid++;
                    invalidIndices.Add(index);
                    break;
                case HitOutcome.Failed:
                    // The whole batch is rolled back; Matomo still reports what it had counted before the exception.
                    CountFailedLogin(loginFailed);
                    return new Answer(500, "application/json; charset=utf-8", string.Create(CultureInfo.InvariantCulture,
                        $$"""{"status":"error","tracked":{{tracked}},"invalid":{{invalid}}}"""));
            }

            index++;
        }

        CountFailedLogin(loginFailed);
        var answer = new StringBuilder();
        answer.Append(CultureInfo.InvariantCulture, $$"""{"status":"success","tracked":{{tracked}},"invalid":{{invalid}}""");
        if (authenticated)
        {
            answer.Append(",\"invalid_indices\":[").AppendJoin(',', invalidIndices).Append(']');
        }

        answer.Append('}');
        return new Answer(200, "application/json; charset=utf-8", answer.ToString()) { Store = store };
    }

    private static bool IsForm(string? contentType) =>
        contentType?.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase) ?? false;

    // Matomo checks a hit's token only when the hit needs it (cip, or a cdt older than 24 h) and its site exists; a
    // token it cannot accept then records one failed login of the client's IP per request (an empty token none).
    private bool FailsLogin(Dictionary<string, string> parameters, string? token) =>
        !string.IsNullOrEmpty(token) && !IsTrackingToken(token) && parameters.GetValueOrDefault("rec") == "1"
        && int.TryParse(parameters.GetValueOrDefault("idsite"), NumberStyles.None, CultureInfo.InvariantCulture, out var site) && site == SiteId
        && (parameters.ContainsKey("cip") || (parameters.TryGetValue("cdt", out var cdt) && ParseCdt(cdt) is { } at && at < Clock.GetUtcNow() - TimeSpan.FromDays(1)));

    private void CountFailedLogin(bool failed)
    {
        if (failed)
        {
            Interlocked.Increment(ref _failedLogins);
        }
    }

    private bool IsTrackingToken(string? token) =>
        !string.IsNullOrEmpty(token) && token == Token && TokenAccess is MatomoTokenAccess.Write or MatomoTokenAccess.Admin or MatomoTokenAccess.SuperUser;

    private HitOutcome Process(Dictionary<string, string> parameters, string raw, string? token, string requestUserAgent, DateTimeOffset receivedAt, bool bulk, out StoredHit? hit)
    {
        hit = null;
        if (parameters.GetValueOrDefault("rec") != "1")
        {
            return HitOutcome.NotRecorded;
        }

        if (!int.TryParse(parameters.GetValueOrDefault("idsite"), NumberStyles.None, CultureInfo.InvariantCulture, out var site) || site <= 0 || site != SiteId)
        {
            return HitOutcome.Invalid;
        }

        var authenticated = IsTrackingToken(token);
        if (parameters.ContainsKey("cip") && !authenticated)
        {
            return HitOutcome.Invalid;
        }

        var now = Clock.GetUtcNow();
        var time = receivedAt;
        if (parameters.TryGetValue("cdt", out var cdt) && ParseCdt(cdt) is { } at)
        {
            if (at < now - TimeSpan.FromDays(1) && !authenticated)
            {
                return HitOutcome.Invalid;
            }

            if (at <= now)
            {
                time = at;
            }
        }

        if (parameters.TryGetValue("cid", out var cid) && !IsVisitorId(cid))
        {
            return HitOutcome.Invalid;
        }

        foreach (var name in PerfParameters)
        {
            if (parameters.TryGetValue(name, out var perf) && double.TryParse(perf, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && ms < 0)
            {
                return HitOutcome.Invalid;
            }
        }

        if (parameters.GetValueOrDefault("ca") == "1")
        {
            // No plugin handles a non-page-view action: Matomo throws (500).
            return HitOutcome.Failed;
        }

        if (PoisonWhen is { } poison && poison(parameters))
        {
            return HitOutcome.Failed;
        }

        if (parameters.TryGetValue("_id", out var id) && !IsVisitorId(id))
        {
            parameters.Remove("_id");
        }

        var userAgent = parameters.GetValueOrDefault("ua") ?? requestUserAgent;
        if (parameters.GetValueOrDefault("bots") != "1" && BotPattern().IsMatch(userAgent))
        {
            return HitOutcome.NotRecorded;
        }

        var isEvent = !string.IsNullOrWhiteSpace(parameters.GetValueOrDefault("e_c")) && !string.IsNullOrWhiteSpace(parameters.GetValueOrDefault("e_a"));
        long? serverTime = null;
        if (!isEvent && parameters.TryGetValue("pf_srv", out var srv)
            && long.TryParse(srv, NumberStyles.None, CultureInfo.InvariantCulture, out var srvMs) && srvMs <= 16_777_215)
        {
            serverTime = srvMs;
        }

        var (cvars, cvarsDropped) = ReadCustomVariables(parameters.GetValueOrDefault("cvar"));
        hit = new StoredHit(parameters, raw, receivedAt, bulk, cvars, cvarsDropped, ReadDimensions(parameters), serverTime, time);
        return HitOutcome.Stored;
    }

    private (IReadOnlyList<KeyValuePair<string, string>> Values, bool Dropped) ReadCustomVariables(string? cvar)
    {
        if (cvar is null)
        {
            return ([], false);
        }

        if (!CustomVariablesPluginActive)
        {
            return ([], true);
        }

        var slots = new SortedDictionary<int, KeyValuePair<string, string>>();
        var dropped = false;
        try
        {
            using var json = JsonDocument.Parse(cvar);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
            {
                return ([], true);
            }

            foreach (var property in json.RootElement.EnumerateObject())
            {
                // Matomo: (int)$id within 1..slots, and exactly [name, value] with a string or number name.
                if (!int.TryParse(property.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var slot) || slot < 1 || slot > CustomVariableSlots
                    || property.Value.ValueKind != JsonValueKind.Array || property.Value.GetArrayLength() != 2
                    || ScalarText(property.Value[0]) is not { } name || ScalarText(property.Value[1]) is not { } value)
                {
                    dropped = true;
                    continue;
                }

                slots[slot] = new(Clip(name, 200), Clip(value, 200));
            }
        }
        catch (JsonException)
        {
            return ([], true);
        }

        return ([.. slots.Values], dropped);
    }

    private Dictionary<int, string> ReadDimensions(Dictionary<string, string> parameters)
    {
        var result = new Dictionary<int, string>();
        foreach (var (name, value) in parameters)
        {
            if (!name.StartsWith("dimension", StringComparison.Ordinal)
                || !int.TryParse(name.AsSpan("dimension".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                continue;
            }

            ConfiguredDimension? dimension;
            lock (_gate)
            {
                dimension = Dimensions.Find(d => d.Id == id);
            }

            var trimmed = value.Trim();
            if (dimension is { Active: true } && trimmed.Length > 0)
            {
                result[id] = Clip(trimmed, 250);
            }
        }

        return result;
    }

    private static string? ScalarText(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.GetRawText(),
        _ => null,
    };

    private static string Clip(string value, int max) => value.Length <= max ? value : value[..max];

    private static bool IsVisitorId(string value) => value.Length == 16 && value.All(char.IsAsciiHexDigit);

    private static DateTimeOffset? ParseCdt(string cdt)
    {
        if (long.TryParse(cdt, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return DateTimeOffset.FromUnixTimeSeconds(seconds);
        }

        return DateTime.TryParseExact(cdt, CdtFormats, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at)
            ? new DateTimeOffset(at, TimeSpan.Zero)
            : null;
    }

    [GeneratedRegex("bot|crawl|spider|slurp", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex BotPattern();
}
