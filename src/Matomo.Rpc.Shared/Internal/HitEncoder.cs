using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Turns a <see cref="MatomoHit"/> into the query string Matomo stores, exactly as MATOMO.md describes. Runs on the
/// sender's thread, never on a call's path. Not thread-safe (one per sender).
/// The query is written as percent-encoded UTF-8 straight into the batch's <see cref="HitBuffer"/>, with no string per
/// parameter; the built-in parameters' names are pre-encoded, and what is the same for many hits is encoded once and
/// cached, within bounds: an action's URL and name (<see cref="ActionFragments"/>), a caller's user agent, language,
/// masked address and visitor id (<see cref="CallerFragments"/>), the built-in custom variables
/// (<see cref="CustomVariablesWriter"/>), an outcome's text, the second's <c>cdt</c>.
/// </summary>
internal sealed class HitEncoder
{
    /// <summary>The parameters that name the visitor; a crash hit keeps them so it lands on its call's visitor.</summary>
    private static readonly string[] VisitorParameters = ["uid", "cid", "_id"];

    // Outcome texts: few in practice, bounded anyway.
    private const int OutcomeCacheSize = 1024;

    private readonly MatomoOptions _options;
    private readonly VisitorIdGenerator _visitorIds;
    private readonly Action? _encoding;
    private readonly string? _baseUrl;
    private readonly bool _withToken;
    private readonly TrackingState _state;
    private readonly CustomVariablesWriter _cvars;
    private readonly ActionFragments _actions = new();
    private readonly CallerFragments _callers;
    private readonly Dictionary<MatomoOutcome, string> _outcomes = [];
    private readonly Dictionary<int, string> _dimensionNames = [];

    // "idsite=N&rec=1": what starts every query, encoded once. No apiv and no rand: nothing in Matomo reads apiv, and
    // rand only defeats caches of GET requests, while a bulk request is a POST (nothing in Matomo reads it either).
    private readonly byte[] _transport;
    private HitBuffer? _scratch;
    private readonly List<KeyValuePair<string, string>> _extras = new(8);

    // The last outcome's text, found by reference (the name is the same object from hit to hit). cdt changes once a second.
    private (string Name, int Code, string Text)? _lastOutcome;
    private long _cdtSecond = long.MinValue;
    private byte[] _cdt = [];

    // encoding: called as each hit's encoding starts (tests use it to act at that moment).
    public HitEncoder(MatomoOptions options, VisitorIdGenerator visitorIds, TrackingState state, ILogger logger, Action? encoding = null)
    {
        _state = state;
        _options = options;
        _visitorIds = visitorIds;
        _cvars = new CustomVariablesWriter(options.CustomVariableSlots, logger);
        _encoding = encoding;
        _transport = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"idsite={options.SiteId}&rec=1"));
        _callers = new CallerFragments(visitorIds, options.IpMaskBytes);
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

        var caller = hit.Caller;
        var action = _actions.Get(UrlKeyFor(hit, caller), hit.ActionName);
        AddCached(query, "url"u8, action.Url);
        if (crash)
        {
            query.Add("ca"u8, "1");
            query.Add("cra"u8, string.IsNullOrEmpty(hit.ErrorMessage) ? hit.ErrorType ?? OutcomeText(hit.Outcome) : hit.ErrorMessage);
            if (hit.ErrorType is { } type)
            {
                query.Add("cra_tp"u8, type);
            }

            query.AddEncoded("cra_ru"u8, action.Url);
        }
        else
        {
            AddCached(query, "action_name"u8, action.Name);
        }

        var callerSlot = _callers.Get(caller);
        AddCaller(query, caller, callerSlot);
        AddVisitor(query, hit, caller, callerSlot);
        AddTime(query, hit);
        if (!crash && !IsEvent())
        {
            AddPerformance(query, hit);
        }

        if (_options.TrackBots)
        {
            AddCached(query, "bots"u8, "1"u8);
        }

        if (!crash)
        {
            // The "in=N out=M" text of a streaming call, made once for both places it may go.
            var recording = _options.Recording;
            var builtInCvars = recording.HasFlag(MatomoRecording.CustomVariables);
            var messages = builtInCvars || (recording.HasFlag(MatomoRecording.CustomDimensions) && _options.Dimensions.Messages is not null)
                ? MessagesField(hit)
                : null;
            _cvars.Write(query, hit, builtInCvars ? OutcomeText(hit.Outcome) : null, messages);
            AddDimensions(query, hit, messages);
        }

        foreach (var (name, value) in _extras)
        {
            query.Add(name, name.StartsWith("dimension", StringComparison.Ordinal) ? TextSanitizer.ForDimension(value) : value);
        }
    }

    private void AddPerformance(QueryWriter query, MatomoHit hit)
    {
        // gt_ms carries what pf_srv carries, also when service code timed pf_srv by hand.
        var byHand = IndexOfExtra("pf_srv");
        if (byHand >= 0)
        {
            var perf = _extras[byHand].Value;
            Add(query, "pf_srv"u8, perf);
            if (_options.SendGenerationTime)
            {
                Add(query, "gt_ms"u8, perf);
            }

            return;
        }

        // Digits need no escaping: formatted straight to the bytes sent.
        var ms = ParameterRules.ToPerfMilliseconds(hit.Duration);
        Span<byte> digits = stackalloc byte[20];
        if (ms < Limits.PerfMax && ms.TryFormat(digits, out var written, provider: CultureInfo.InvariantCulture))
        {
            AddCached(query, "pf_srv"u8, digits[..written]);
            if (_options.SendGenerationTime)
            {
                AddCached(query, "gt_ms"u8, digits[..written]);
            }
        }
    }

    private void AddTransport(QueryWriter query)
    {
        _encoding?.Invoke();
        query.AddRaw(_transport);
    }

    private void AddCaller(QueryWriter query, in MatomoCallerInfo caller, CallerFragments.Slot slot)
    {
        if (slot.Ua is { } ua)
        {
            AddCached(query, "ua"u8, ua);
        }

        if (slot.Lang is { } lang)
        {
            AddCached(query, "lang"u8, lang);
        }

        var referrer = _options.Privacy.KeepReferrerQuery ? caller.Referrer.AsSpan() : WithoutQuery(caller.Referrer.AsSpan());
        if (!referrer.IsEmpty)
        {
            Add(query, "urlref"u8, TextSanitizer.Clip(referrer, Limits.ParameterValue));
        }
    }

    /// <summary>A referrer without its query string and fragment, which often carry personal data.</summary>
    internal static string WithoutQuery(string url)
    {
        var kept = WithoutQuery(url.AsSpan());
        return kept.Length == url.Length ? url : kept.ToString();
    }

    private static ReadOnlySpan<char> WithoutQuery(ReadOnlySpan<char> url)
    {
        var end = url.IndexOfAny('?', '#');
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

    private void AddVisitor(QueryWriter query, MatomoHit hit, in MatomoCallerInfo caller, CallerFragments.Slot slot)
    {
        // A visitor set by service code or the action's details wins over the generated one (the caller's IP is still sent).
        var own = false;
        for (var i = 0; i < VisitorParameters.Length && _extras.Count > 0; i++)
        {
            var name = VisitorParameters[i];
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
                    query.Add("uid"u8, _options.UserId.Mode == MatomoUserIdMode.Pseudonym ? _visitorIds.Pseudonym(user) : TextSanitizer.Clip(user, Limits.ParameterValue));
                    break;
                default:
                    query.Add("cid"u8, _callers.Cid(slot, caller, hit.Timestamp));
                    break;
            }
        }

        if (_withToken && _state.TokenTrusted && caller.RemoteAddress is { } address)
        {
            query.AddEncoded("cip"u8, _callers.Cip(slot, address));
        }
    }

    private void AddTime(QueryWriter query, MatomoHit hit)
    {
        // Unix seconds (Matomo takes a numeric cdt as the timestamp itself; a date text goes through strtotime): the same
        // second stored, in 10 bytes instead of the 25 of "2026-01-02%2003%3A04%3A05".
        var second = hit.Timestamp.ToUnixTimeSeconds();
        if (second != _cdtSecond)
        {
            _cdt = Encoding.ASCII.GetBytes(second.ToString(CultureInfo.InvariantCulture));
            _cdtSecond = second;
        }

        query.AddEncoded("cdt"u8, _cdt);
    }

    private void AddDimensions(QueryWriter query, MatomoHit hit, string? messages)
    {
        if (!_options.Recording.HasFlag(MatomoRecording.CustomDimensions))
        {
            return;
        }

        var d = _options.Dimensions;
        AddDimension(query, d.Outcome, OutcomeText(hit.Outcome));
        AddDimension(query, d.CallKind, KindName(hit.Kind));
        AddDimension(query, d.Messages, messages);
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

    /// <summary>What the hit's URL is made of: the configured base URL, or the caller's scheme and host; then the path.</summary>
    private UrlKey UrlKeyFor(MatomoHit hit, in MatomoCallerInfo caller) => _baseUrl is not null
        ? new UrlKey(_baseUrl, string.Empty, hit.UrlPath)
        : new UrlKey(
            _options.AssumeHttps || caller.Scheme is "https" ? "https://" : "http://",
            string.IsNullOrEmpty(caller.Host) ? "localhost" : caller.Host,
            hit.UrlPath);

    private string OutcomeText(MatomoOutcome outcome)
    {
        if (outcome.Code is not { } code)
        {
            return outcome.Name ?? string.Empty;
        }

        if (_lastOutcome is { } last && ReferenceEquals(outcome.Name, last.Name) && code == last.Code)
        {
            return last.Text;
        }

        if (!_outcomes.TryGetValue(outcome, out var text))
        {
            text = outcome.ToString();
            if (_outcomes.Count >= OutcomeCacheSize)
            {
                _outcomes.Clear();
            }

            _outcomes[outcome] = text;
        }

        _lastOutcome = (outcome.Name, code, text);
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

    /// <summary><see cref="Add(QueryWriter, string, ReadOnlySpan{char})"/> for a built-in name, given pre-encoded.</summary>
    private void Add(QueryWriter query, ReadOnlySpan<byte> name, ReadOnlySpan<char> value)
    {
        if (TakeExtra(name) is { } extra)
        {
            query.Add(name, extra);
            return;
        }

        query.Add(name, value);
    }

    /// <summary><see cref="Add(QueryWriter, ReadOnlySpan{byte}, ReadOnlySpan{char})"/> for a value already percent-encoded.</summary>
    private void AddCached(QueryWriter query, ReadOnlySpan<byte> name, ReadOnlySpan<byte> escaped)
    {
        if (TakeExtra(name) is { } extra)
        {
            query.Add(name, extra);
            return;
        }

        query.AddEncoded(name, escaped);
    }

    /// <summary><see cref="TakeExtra(string)"/> for a built-in name (ASCII, not a dimension).</summary>
    private string? TakeExtra(ReadOnlySpan<byte> name)
    {
        for (var i = 0; i < _extras.Count; i++)
        {
            if (Ascii.Equals(_extras[i].Key, name))
            {
                var value = _extras[i].Value;
                _extras.RemoveAt(i);
                return value;
            }
        }

        return null;
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

    private bool IsEvent()
    {
        if (_extras.Count == 0)
        {
            return false;
        }

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
