using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests.Oracle;

/// <summary>
/// The string-building encoder as it was before the UTF-8 send path (issue 13), kept as the oracle of the differential
/// tests: the bytes the sender sends must equal this encoder's query, byte for byte. Changed since only where the wire
/// format changed on purpose (issue 13 item 4): no apiv and rand, cdt in unix seconds, percent-encoding only what
/// Matomo's bulk parsing needs (<see cref="StringQueryWriter"/>), cvar's JSON with the relaxed encoder.
/// </summary>
internal sealed class StringHitEncoder
{
    /// <summary>The parameters that name the visitor; a crash hit keeps them so it lands on its call's visitor.</summary>
    private static readonly string[] VisitorParameters = ["uid", "cid", "_id"];

    private readonly MatomoOptions _options;
    private readonly VisitorIdGenerator _visitorIds;
    private readonly ILogger _logger;
    private readonly string _siteId;
    private readonly string? _baseUrl;
    private readonly bool _withToken;
    private readonly TrackingState _state;
    private readonly StringBuilder _builder = new(512);
    private readonly ArrayBufferWriter<byte> _json = new(256);
    private readonly List<KeyValuePair<string, string>> _extras = new(8);
    private readonly List<KeyValuePair<string, string>> _cvars = new(8);
    private bool _slotsExceededLogged;

    public StringHitEncoder(MatomoOptions options, VisitorIdGenerator visitorIds, TrackingState state, ILogger logger)
    {
        _state = state;
        _options = options;
        _visitorIds = visitorIds;
        _logger = logger;
        _siteId = options.SiteId.ToString(CultureInfo.InvariantCulture);
        _baseUrl = string.IsNullOrEmpty(options.BaseUrl) ? null : options.BaseUrl.TrimEnd('/');
        _withToken = !string.IsNullOrEmpty(options.TokenAuth);
    }

    public static string KindName(MatomoCallKind kind) => kind switch
    {
        MatomoCallKind.Unary => "unary",
        MatomoCallKind.ClientStreaming => "client_streaming",
        MatomoCallKind.ServerStreaming => "server_streaming",
        MatomoCallKind.DuplexStreaming => "duplex_streaming",
        MatomoCallKind.HubInvocation => "hub_invocation",
        MatomoCallKind.HubStream => "hub_stream",
        MatomoCallKind.HubConnect => "hub_connect",
        MatomoCallKind.HubDisconnect => "hub_disconnect",
        MatomoCallKind.Http => "http",
        _ => kind.ToString(),
    };

    public string Encode(MatomoHit hit) => Write(hit, crash: false);

    /// <summary>
    /// A Crash Analytics hit for a failed call, sent alone so that a 500 cannot roll back other hits. It has the call's
    /// URL, caller, visitor (a <c>uid</c>, <c>cid</c> or <c>_id</c> set for the call included) and time, not its action.
    /// </summary>
    public string EncodeCrash(MatomoHit hit) => Write(hit, crash: true);

    private string Write(MatomoHit hit, bool crash)
    {
        CollectExtras(hit, visitorOnly: crash);
        var query = new StringQueryWriter(_builder);
        AddTransport(query);

        var url = TextSanitizer.Clip(BuildUrl(hit), Limits.Url);
        Add(query, "url", url);
        if (crash)
        {
            query.Add("ca", "1");
            query.Add("cra", string.IsNullOrEmpty(hit.ErrorMessage) ? hit.ErrorType ?? hit.Outcome.ToString() : hit.ErrorMessage);
            if (hit.ErrorType is { } type)
            {
                query.Add("cra_tp", type);
            }

            query.Add("cra_ru", url);
        }
        else
        {
            Add(query, "action_name", hit.ActionName);
        }

        AddCaller(query, hit);
        AddVisitor(query, hit);
        AddTime(query, hit);
        if (!crash && !IsEvent())
        {
            AddPerformance(query, hit);
        }

        if (_options.TrackBots)
        {
            Add(query, "bots", "1");
        }

        if (!crash)
        {
            AddCustomVariables(query, hit);
            AddDimensions(query, hit);
        }

        foreach (var (name, value) in _extras)
        {
            query.Add(name, name.StartsWith("dimension", StringComparison.Ordinal) ? TextSanitizer.ForDimension(value) : value);
        }

        return query.ToString();
    }

    private void AddPerformance(StringQueryWriter query, MatomoHit hit)
    {
        // gt_ms carries what pf_srv carries, also when service code timed pf_srv by hand.
        var ms = ParameterRules.ToPerfMilliseconds(hit.Duration);
        var byHand = IndexOfExtra("pf_srv");
        var perf = byHand >= 0 ? _extras[byHand].Value : ms < Limits.PerfMax ? ms.ToString(CultureInfo.InvariantCulture) : null;
        if (perf is not null)
        {
            Add(query, "pf_srv", perf);
            if (_options.SendGenerationTime)
            {
                Add(query, "gt_ms", perf);
            }
        }
    }

    private void AddTransport(StringQueryWriter query)
    {
        query.Add("idsite", _siteId);
        query.Add("rec", "1");
    }

    private void AddCaller(StringQueryWriter query, MatomoHit hit)
    {
        var caller = hit.Caller;
        AddOptional(query, "ua", caller.UserAgent);
        AddOptional(query, "lang", caller.Language);
        AddOptional(query, "urlref", caller.Referrer is { } referrer && !_options.Privacy.KeepReferrerQuery ? WithoutQuery(referrer) : caller.Referrer);
    }

    /// <summary>A referrer without its query string and fragment, which often carry personal data.</summary>
    internal static string WithoutQuery(string url)
    {
        var end = url.AsSpan().IndexOfAny('?', '#');
        return end < 0 ? url : url[..end];
    }

    /// <summary>
    /// What leaves the process for the parameters set by service code or the action's details: a <c>uid</c> as a
    /// pseudonym (unless the mode is Plain), a <c>urlref</c> without its query (unless kept).
    /// </summary>
    private void ApplyPrivacy()
    {
        for (var i = 0; i < _extras.Count; i++)
        {
            var (name, value) = _extras[i];
            if (name == "uid" && _options.UserId.Mode == MatomoUserIdMode.Pseudonym && value.Length > 0)
            {
                _extras[i] = new(name, _visitorIds.Pseudonym(value));
            }
            else if (name == "urlref" && !_options.Privacy.KeepReferrerQuery)
            {
                _extras[i] = new(name, WithoutQuery(value));
            }
        }
    }

    private void AddVisitor(StringQueryWriter query, MatomoHit hit)
    {
        var caller = hit.Caller;

        // A visitor set by service code or the action's details wins over the generated one (the caller's IP is still sent).
        var own = false;
        foreach (var name in VisitorParameters)
        {
            if (IndexOfExtra(name) is var index and >= 0)
            {
                Add(query, name, _extras[index].Value);
                own = true;
            }
        }

        if (!own)
        {
            switch (_options.VisitorIdentity)
            {
                case MatomoVisitorIdentity.None:
                    break;
                case MatomoVisitorIdentity.UserId when caller.UserId is { Length: > 0 } user:
                    query.Add("uid", _options.UserId.Mode == MatomoUserIdMode.Pseudonym ? _visitorIds.Pseudonym(user) : TextSanitizer.Clip(user, Limits.ParameterValue));
                    break;
                default:
                    // Masked first: an id hashed from the whole address would tell apart what IpMaskBytes merges.
                    var hashed = caller.VisitorKey is null && caller.RemoteAddress is { } remote && _options.IpMaskBytes > 0
                        ? Mask(remote, _options.IpMaskBytes)
                        : caller.RemoteAddress;
                    query.Add("cid", _visitorIds.Compute(hit.Timestamp, caller.VisitorKey, hashed, caller.UserAgent));
                    break;
            }
        }

        if (_withToken && _state.TokenTrusted && caller.RemoteAddress is { } address)
        {
            query.Add("cip", Mask(address, _options.IpMaskBytes).ToString());
        }
    }

    private static void AddTime(StringQueryWriter query, MatomoHit hit) =>
        query.Add("cdt", hit.Timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));

    private void AddCustomVariables(StringQueryWriter query, MatomoHit hit)
    {
        _cvars.Clear();
        if (_options.Recording.HasFlag(MatomoRecording.CustomVariables))
        {
            _cvars.Add(new("status", hit.Outcome.ToString()));
            _cvars.Add(new("kind", KindName(hit.Kind)));

            // Third, before the optional fields, so that the slots there are keep it: a report is scaled by it.
            if (hit.SampleRateText is { } sample)
            {
                _cvars.Add(new("sample", sample));
            }

            if (MessagesField(hit) is { } messages)
            {
                _cvars.Add(new("messages", messages));
            }

            if (hit.ErrorType is { } error)
            {
                _cvars.Add(new("error", error));
            }

            if (hit.Transport is { } transport)
            {
                _cvars.Add(new("transport", transport));
            }

            _cvars.AddRange(hit.Fields);
        }

        _cvars.AddRange(hit.CustomVariables);
        if (_cvars.Count == 0)
        {
            return;
        }

        var slots = _options.CustomVariableSlots;
        if (_cvars.Count > slots && !_slotsExceededLogged)
        {
            _slotsExceededLogged = true;
            Log.CustomVariableSlotsExceeded(_logger, slots);
        }

        _json.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_json, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            for (var i = 0; i < _cvars.Count && i < slots; i++)
            {
                writer.WriteStartArray((i + 1).ToString(CultureInfo.InvariantCulture));
                writer.WriteStringValue(TextSanitizer.Clip(_cvars[i].Key, Limits.CustomVariable));
                writer.WriteStringValue(TextSanitizer.Clip(_cvars[i].Value, Limits.CustomVariable));
                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        query.Add("cvar", Encoding.UTF8.GetString(_json.WrittenSpan));
    }

    private void AddDimensions(StringQueryWriter query, MatomoHit hit)
    {
        if (!_options.Recording.HasFlag(MatomoRecording.CustomDimensions))
        {
            return;
        }

        var d = _options.Dimensions;
        AddDimension(query, d.Outcome, hit.Outcome.ToString());
        AddDimension(query, d.CallKind, KindName(hit.Kind));
        AddDimension(query, d.Messages, MessagesField(hit));
        AddDimension(query, d.Error, hit.ErrorType);
        AddDimension(query, d.Transport, hit.Transport);
        AddDimension(query, d.SampleRate, hit.SampleRateText);
    }

    private void AddDimension(StringQueryWriter query, int? index, string? value)
    {
        if (index is { } n && !string.IsNullOrWhiteSpace(value))
        {
            Add(query, "dimension" + n.ToString(CultureInfo.InvariantCulture), TextSanitizer.ForDimension(value));
        }
    }

    private static string? MessagesField(MatomoHit hit) => hit.Kind switch
    {
        MatomoCallKind.ClientStreaming or MatomoCallKind.ServerStreaming or MatomoCallKind.DuplexStreaming or MatomoCallKind.HubStream
            => string.Create(CultureInfo.InvariantCulture, $"in={hit.MessagesReceived} out={hit.MessagesSent}"),
        MatomoCallKind.HubInvocation when hit.MessagesReceived > 0
            => string.Create(CultureInfo.InvariantCulture, $"in={hit.MessagesReceived} out={hit.MessagesSent}"),
        _ => null,
    };

    private string BuildUrl(MatomoHit hit)
    {
        if (_baseUrl is not null)
        {
            return _baseUrl + hit.UrlPath;
        }

        var scheme = _options.AssumeHttps ? "https" : (hit.Caller.Scheme is "http" or "https" ? hit.Caller.Scheme : "http");
        return scheme + "://" + (string.IsNullOrEmpty(hit.Caller.Host) ? "localhost" : hit.Caller.Host) + hit.UrlPath;
    }

    /// <summary>
    /// Action details first, then the call's own parameters, a later one replacing an earlier one of the same name;
    /// with <paramref name="visitorOnly"/>, only the parameters that say who the visitor is.
    /// </summary>
    private void CollectExtras(MatomoHit hit, bool visitorOnly)
    {
        _extras.Clear();
        Collect(hit.Details, visitorOnly);
        Collect(hit.Parameters, visitorOnly);
        ApplyPrivacy();
    }

    private void Collect(IReadOnlyList<KeyValuePair<string, string>> parameters, bool visitorOnly)
    {
        foreach (var parameter in parameters)
        {
            if (visitorOnly && Array.IndexOf(VisitorParameters, parameter.Key) < 0)
            {
                continue;
            }

            var index = IndexOfExtra(parameter.Key);
            if (index >= 0)
            {
                _extras[index] = parameter;
            }
            else
            {
                _extras.Add(parameter);
            }
        }
    }

    /// <summary>Writes a built-in parameter, or the extra of the same name in its place (which is then not written again).</summary>
    private void Add(StringQueryWriter query, string name, string value)
    {
        var index = IndexOfExtra(name);
        if (index >= 0)
        {
            value = _extras[index].Value;
            _extras.RemoveAt(index);
            if (name.StartsWith("dimension", StringComparison.Ordinal))
            {
                value = TextSanitizer.ForDimension(value);
            }
        }

        query.Add(name, value);
    }

    private void AddOptional(StringQueryWriter query, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            Add(query, name, TextSanitizer.Clip(value, Limits.ParameterValue));
        }
    }

    private bool IsEvent()
    {
        var category = IndexOfExtra("e_c");
        var action = IndexOfExtra("e_a");
        return category >= 0 && action >= 0
            && !string.IsNullOrWhiteSpace(_extras[category].Value) && !string.IsNullOrWhiteSpace(_extras[action].Value);
    }

    private int IndexOfExtra(string name)
    {
        for (var i = 0; i < _extras.Count; i++)
        {
            if (string.Equals(_extras[i].Key, name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    internal static IPAddress Mask(IPAddress address, int bytes)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (bytes <= 0)
        {
            return address;
        }

        var raw = address.GetAddressBytes();
        var total = raw.Length * 8;
        var masked = address.AddressFamily == AddressFamily.InterNetwork
            ? Math.Min(bytes, 4) * 8
            : bytes switch { 1 => 64, 2 => 80, 3 => 104, _ => 128 };
        for (var bit = total - masked; bit < total; bit++)
        {
            raw[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return new IPAddress(raw);
    }
}
