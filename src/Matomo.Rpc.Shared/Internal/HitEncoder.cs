using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Turns a <see cref="MatomoHit"/> into the query string Matomo stores, exactly as MATOMO.md describes. Runs on the
/// sender's thread, never on a call's path. Not thread-safe (one per sender).
/// The query is written as percent-encoded UTF-8 straight into the batch's <see cref="HitBuffer"/>, with no string per
/// parameter; what is the same for many hits (an action's URL and name, a caller's user agent and language, a masked
/// address, an outcome's text) is encoded once and cached, within bounds.
/// </summary>
// The JSON writer and the scratch buffer hold no unmanaged resource: dropping them with the encoder is enough.
#pragma warning disable CA1001
internal sealed class HitEncoder
#pragma warning restore CA1001
{
    /// <summary>The parameters that name the visitor; a crash hit keeps them so it lands on its call's visitor.</summary>
    private static readonly string[] VisitorParameters = ["uid", "cid", "_id"];

    // Callers a backend sees over and over; a value is cached only when it is not longer than Matomo keeps.
    private const int CallerCacheSize = 1024;

    private readonly MatomoOptions _options;
    private readonly VisitorIdGenerator _visitorIds;
    private readonly ILogger _logger;
    private readonly Func<uint> _rand;
    private readonly string _siteId;
    private readonly string? _baseUrl;
    private readonly bool _withToken;
    private readonly TrackingState _state;
    private readonly ArrayBufferWriter<byte> _json = new(256);
    private readonly Utf8JsonWriter _jsonWriter;
    private readonly string[] _slotNames;
    private readonly EncodedCache<UrlKey> _urls = new(Limits.ActionCacheSize);
    private readonly EncodedCache<string> _actionNames = new(Limits.ActionCacheSize);
    private readonly EncodedCache<string> _userAgents = new(CallerCacheSize);
    private readonly EncodedCache<string> _languages = new(CallerCacheSize);
    private readonly EncodedCache<IPAddress> _addresses = new(CallerCacheSize);
    private readonly Dictionary<MatomoOutcome, string> _outcomes = [];
    private readonly Dictionary<int, string> _dimensionNames = [];
    private readonly Func<IPAddress, string> _maskedText;
    private HitBuffer? _scratch;
    private readonly List<KeyValuePair<string, string>> _extras = new(8);
    private readonly List<KeyValuePair<string, string>> _cvars = new(8);
    private bool _slotsExceededLogged;

    // Most hits carry only the built-in custom variables (status, kind, maybe the sample rate), whose cvar is the same
    // for every call with that outcome and kind: it is written and percent-encoded once. And cdt changes once a second.
    private readonly Dictionary<(string Status, string Kind, string? Sample), byte[]> _builtInCvars = [];
    private long _cdtSecond = long.MinValue;
    private byte[] _cdt = [];

    public HitEncoder(MatomoOptions options, VisitorIdGenerator visitorIds, TrackingState state, ILogger logger, Func<uint>? rand = null)
    {
        _state = state;
        _options = options;
        _visitorIds = visitorIds;
        _logger = logger;
        _rand = rand ?? (() => (uint)Random.Shared.Next());
        _siteId = options.SiteId.ToString(CultureInfo.InvariantCulture);
        _baseUrl = string.IsNullOrEmpty(options.BaseUrl) ? null : options.BaseUrl.TrimEnd('/');
        _withToken = !string.IsNullOrEmpty(options.TokenAuth);
        _jsonWriter = new Utf8JsonWriter(_json);
        _maskedText = address => Mask(address, _options.IpMaskBytes).ToString();
        _slotNames = new string[Math.Max(0, options.CustomVariableSlots)];
        for (var i = 0; i < _slotNames.Length; i++)
        {
            _slotNames[i] = (i + 1).ToString(CultureInfo.InvariantCulture);
        }
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

    /// <summary>Writes the hit's query at the end of <paramref name="buffer"/>; returns its length in bytes.</summary>
    public int Encode(MatomoHit hit, HitBuffer buffer) => Write(hit, crash: false, buffer);

    /// <summary>
    /// A Crash Analytics hit for a failed call, sent alone so that a 500 cannot roll back other hits. It has the call's
    /// URL, caller, visitor (a <c>uid</c>, <c>cid</c> or <c>_id</c> set for the call included) and time, not its action.
    /// </summary>
    public int EncodeCrash(MatomoHit hit, HitBuffer buffer) => Write(hit, crash: true, buffer);

    /// <summary>The same query as a string (log-only mode, tests): the bytes <see cref="Encode(MatomoHit, HitBuffer)"/> writes.</summary>
    public string Encode(MatomoHit hit) => ToText(hit, crash: false);

    public string EncodeCrash(MatomoHit hit) => ToText(hit, crash: true);

    private string ToText(MatomoHit hit, bool crash)
    {
        var scratch = _scratch ??= new HitBuffer(1024);
        scratch.Truncate(0);
        var length = Write(hit, crash, scratch);
        return Encoding.UTF8.GetString(scratch.Slice(0, length));
    }

    private int Write(MatomoHit hit, bool crash, HitBuffer buffer)
    {
        var start = buffer.Written;
        try
        {
            Write(hit, crash, new QueryWriter(buffer));
            return buffer.Written - start;
        }
        catch
        {
            buffer.Truncate(start);
            throw;
        }
    }

    private void Write(MatomoHit hit, bool crash, QueryWriter query)
    {
        CollectExtras(hit, visitorOnly: crash);
        AddTransport(query);

        var url = UrlFor(hit);
        AddCached(query, "url", url);
        if (crash)
        {
            query.Add("ca", "1");
            query.Add("cra", string.IsNullOrEmpty(hit.ErrorMessage) ? hit.ErrorType ?? OutcomeText(hit.Outcome) : hit.ErrorMessage);
            if (hit.ErrorType is { } type)
            {
                query.Add("cra_tp", type);
            }

            query.AddEncoded("cra_ru", url);
        }
        else
        {
            AddCached(query, "action_name", _actionNames.Get(hit.ActionName, hit.ActionName.Length, static name => name));
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
    }

    private void AddPerformance(QueryWriter query, MatomoHit hit)
    {
        // gt_ms carries what pf_srv carries, also when service code timed pf_srv by hand.
        var ms = ParameterRules.ToPerfMilliseconds(hit.Duration);
        var byHand = IndexOfExtra("pf_srv");
        Span<char> digits = stackalloc char[20];
        var perf = byHand >= 0 ? _extras[byHand].Value.AsSpan() : ms < Limits.PerfMax && ms.TryFormat(digits, out var written, provider: CultureInfo.InvariantCulture) ? digits[..written] : null;
        if (byHand >= 0 || !perf.IsEmpty)
        {
            Add(query, "pf_srv", perf);
            if (_options.SendGenerationTime)
            {
                Add(query, "gt_ms", perf);
            }
        }
    }

    private void AddTransport(QueryWriter query)
    {
        query.Add("idsite", _siteId);
        query.Add("rec", "1");
        query.Add("apiv", "1");
        Span<char> rand = stackalloc char[8];
        _rand().TryFormat(rand, out _, "x8", CultureInfo.InvariantCulture);
        query.Add("rand", rand);
    }

    private void AddCaller(QueryWriter query, MatomoHit hit)
    {
        var caller = hit.Caller;
        AddOptional(query, "ua", caller.UserAgent, _userAgents);
        AddOptional(query, "lang", caller.Language, _languages);
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

    private void AddVisitor(QueryWriter query, MatomoHit hit)
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
            query.AddEncoded("cip", _addresses.Get(address, 0, _maskedText));
        }
    }

    private void AddTime(QueryWriter query, MatomoHit hit)
    {
        var utc = hit.Timestamp.UtcDateTime;
        var second = utc.Ticks / TimeSpan.TicksPerSecond;
        if (second != _cdtSecond)
        {
            Span<char> cdt = stackalloc char[32];
            utc.TryFormat(cdt, out var written, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            _cdt = QueryWriter.EscapeToArray(cdt[..written]);
            _cdtSecond = second;
        }

        query.AddEncoded("cdt", _cdt);
    }

    private void AddCustomVariables(QueryWriter query, MatomoHit hit)
    {
        _cvars.Clear();
        string? messages = null;
        if (_options.Recording.HasFlag(MatomoRecording.CustomVariables))
        {
            _cvars.Add(new("status", OutcomeText(hit.Outcome)));
            _cvars.Add(new("kind", KindName(hit.Kind)));

            // Third, before the optional fields, so that the slots there are keep it: a report is scaled by it.
            if (hit.SampleRateText is { } sample)
            {
                _cvars.Add(new("sample", sample));
            }

            messages = MessagesField(hit);
            if (messages is not null)
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

        // Only the built-in status, kind and sample rate: the same bytes for every such hit, encoded once.
        (string, string, string?) builtIn = default;
        var cacheable = _cvars.Count <= 3 && hit.Fields.Count == 0 && hit.CustomVariables.Count == 0
            && hit.ErrorType is null && hit.Transport is null && messages is null;
        if (cacheable)
        {
            builtIn = (_cvars[0].Value, _cvars[1].Value, _cvars.Count == 3 ? _cvars[2].Value : null);
            if (_builtInCvars.TryGetValue(builtIn, out var cached))
            {
                query.AddEncoded("cvar", cached);
                return;
            }
        }

        var slots = _options.CustomVariableSlots;
        if (_cvars.Count > slots && !_slotsExceededLogged)
        {
            _slotsExceededLogged = true;
            Log.CustomVariableSlotsExceeded(_logger, slots);
        }

        // One writer, reset per hit (also after a hit that failed half-way): its bytes are percent-encoded as they are.
        _json.ResetWrittenCount();
        var writer = _jsonWriter;
        writer.Reset(_json);
        writer.WriteStartObject();
        for (var i = 0; i < _cvars.Count && i < slots; i++)
        {
            writer.WriteStartArray(_slotNames[i]);
            writer.WriteStringValue(TextSanitizer.Clip(_cvars[i].Key, Limits.CustomVariable));
            writer.WriteStringValue(TextSanitizer.Clip(_cvars[i].Value, Limits.CustomVariable));
            writer.WriteEndArray();
        }

        writer.WriteEndObject();
        writer.Flush();
        if (cacheable)
        {
            var escaped = new ArrayBufferWriter<byte>(_json.WrittenCount * 3);
            QueryWriter.EscapeUtf8(escaped, _json.WrittenSpan);
            if (_builtInCvars.Count >= CallerCacheSize)
            {
                _builtInCvars.Clear();
            }

            _builtInCvars[builtIn] = escaped.WrittenSpan.ToArray();
        }

        query.AddUtf8("cvar", _json.WrittenSpan);
    }

    private void AddDimensions(QueryWriter query, MatomoHit hit)
    {
        if (!_options.Recording.HasFlag(MatomoRecording.CustomDimensions))
        {
            return;
        }

        var d = _options.Dimensions;
        AddDimension(query, d.Outcome, OutcomeText(hit.Outcome));
        AddDimension(query, d.CallKind, KindName(hit.Kind));
        AddDimension(query, d.Messages, MessagesField(hit));
        AddDimension(query, d.Error, hit.ErrorType);
        AddDimension(query, d.Transport, hit.Transport);
        AddDimension(query, d.SampleRate, hit.SampleRateText);
    }

    private void AddDimension(QueryWriter query, int? index, string? value)
    {
        if (index is { } n && !string.IsNullOrWhiteSpace(value))
        {
            Add(query, DimensionName(n), TextSanitizer.ForDimension(value));
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

    /// <summary>The hit's URL, clipped to Matomo's limit and percent-encoded: cached per path, scheme and host.</summary>
    private ReadOnlySpan<byte> UrlFor(MatomoHit hit)
    {
        var key = _baseUrl is not null
            ? new UrlKey(_baseUrl, string.Empty, hit.UrlPath)
            : new UrlKey(
                _options.AssumeHttps || hit.Caller.Scheme is "https" ? "https://" : "http://",
                string.IsNullOrEmpty(hit.Caller.Host) ? "localhost" : hit.Caller.Host,
                hit.UrlPath);
        return _urls.Get(key, key.Length, static k => TextSanitizer.Clip(k.Origin + k.Host + k.Path, Limits.Url));
    }

    private string OutcomeText(MatomoOutcome outcome)
    {
        if (outcome.Code is null)
        {
            return outcome.Name ?? string.Empty;
        }

        if (!_outcomes.TryGetValue(outcome, out var text))
        {
            text = outcome.ToString();
            if (_outcomes.Count >= CallerCacheSize)
            {
                _outcomes.Clear();
            }

            _outcomes[outcome] = text;
        }

        return text;
    }

    private string DimensionName(int index)
    {
        if (!_dimensionNames.TryGetValue(index, out var name))
        {
            name = "dimension" + index.ToString(CultureInfo.InvariantCulture);
            _dimensionNames[index] = name;
        }

        return name;
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
        // By index: foreach over the interface would allocate an enumerator per hit.
        for (var i = 0; i < parameters.Count; i++)
        {
            var parameter = parameters[i];
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
    private void Add(QueryWriter query, string name, ReadOnlySpan<char> value)
    {
        if (TakeExtra(name) is { } extra)
        {
            query.Add(name, extra);
            return;
        }

        query.Add(name, value);
    }

    /// <summary><see cref="Add(QueryWriter, string, ReadOnlySpan{char})"/> for a value cached percent-encoded.</summary>
    private void AddCached(QueryWriter query, string name, ReadOnlySpan<byte> escaped)
    {
        if (TakeExtra(name) is { } extra)
        {
            query.Add(name, extra);
            return;
        }

        query.AddEncoded(name, escaped);
    }

    private string? TakeExtra(string name)
    {
        var index = IndexOfExtra(name);
        if (index < 0)
        {
            return null;
        }

        var value = _extras[index].Value;
        _extras.RemoveAt(index);
        return name.StartsWith("dimension", StringComparison.Ordinal) ? TextSanitizer.ForDimension(value) : value;
    }

    private void AddOptional(QueryWriter query, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            Add(query, name, TextSanitizer.Clip(value, Limits.ParameterValue));
        }
    }

    private void AddOptional(QueryWriter query, string name, string? value, EncodedCache<string> cache)
    {
        if (!string.IsNullOrEmpty(value))
        {
            AddCached(query, name, cache.Get(value, value.Length, static v => TextSanitizer.Clip(v, Limits.ParameterValue)));
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
