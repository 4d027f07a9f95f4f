using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.RegularExpressions;
using Matomo.Rpc.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc;

/// <summary>
/// The entry point adapters use: decides which calls are tracked and starts their scopes. A singleton, registered by
/// <c>AddMatomoTracking</c>; calls into it never block, never do I/O and never throw because of Matomo.
/// </summary>
public sealed class MatomoTracker
{
    /// <summary>The name of the <see cref="System.Net.Http.IHttpClientFactory"/> client used to reach Matomo.</summary>
    public const string HttpClientName = "Matomo.Rpc";

    /// <summary>The name of the meter that reports the tracking pipeline.</summary>
    public const string MeterName = "Matomo.Rpc";

    private static readonly string[] GrpcInfrastructure =
    [
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ];

    /// <summary>Slots of the per-action cache looked up by reference first (a power of two).</summary>
    private const int RecentActionSlots = 64;

    private readonly ConcurrentDictionary<string, ActionInfo> _actions = new(StringComparer.Ordinal);
    private readonly ActionInfo?[] _recentActions = new ActionInfo?[RecentActionSlots];
    private readonly HashSet<string> _excludedActions;
    private readonly Regex[] _excludedPatterns;
    private readonly int _trackedKinds;
    private readonly HitQueue _queue;
    private readonly ScopeServices _scopes;
    private readonly SamplingRules _sampling;
    private readonly bool _honorOptOut;

    internal MatomoTracker(MatomoOptions options, TimeProvider timeProvider, HitQueue queue, ILogger<MatomoTracker> logger, SampleSource? sampleSource = null)
    {
        _sampling = new SamplingRules(options.Sampling, sampleSource ?? SampleSource.Shared);
        Options = options;
        TimeProvider = timeProvider;
        _queue = queue;
        _scopes = new ScopeServices(options, timeProvider, queue, logger);

        _excludedActions = new HashSet<string>(StringComparer.Ordinal);
        foreach (var action in options.ExcludedActions)
        {
            _excludedActions.Add(NormalizeAction(action));
        }

        if (options.ExcludeGrpcInfrastructure)
        {
            _excludedActions.UnionWith(GrpcInfrastructure);
        }

        _excludedPatterns = [.. options.ExcludedPatterns.Select(MatomoOptionsValidator.CompilePattern)];

        var kinds = options.AllowedCallKinds.Count == 0 ? ~0 : 0;
        foreach (var kind in options.AllowedCallKinds)
        {
            kinds |= 1 << (int)kind;
        }

        foreach (var kind in options.IgnoredCallKinds)
        {
            kinds &= ~(1 << (int)kind);
        }

        _trackedKinds = kinds;
        _honorOptOut = options.Privacy.HonorOptOut;
        if (options.VisitorIdentity == MatomoVisitorIdentity.UserId && options.UserId.Mode == MatomoUserIdMode.Pseudonym
            && string.IsNullOrEmpty(options.VisitorIdSalt))
        {
            Log.PseudonymWithoutSalt(logger);
        }
    }

    /// <summary>The clock calls are timed with (adapters use it for anything they time themselves).</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>Totals of the tracking pipeline since start.</summary>
    public MatomoStatistics Statistics => _queue.Metrics.Snapshot(_queue.Count);

    /// <summary>The validated options in force (they hold the token: never exposed).</summary>
    internal MatomoOptions Options { get; }

    /// <summary>
    /// Starts tracking a call, or returns null when the action or call kind is excluded (which costs one lookup and
    /// allocates nothing) or the call is left out by sampling (<see cref="MatomoOptions.Sampling"/>, decided here, as
    /// cheap; counted in <see cref="MatomoStatistics.SampledOut"/>). With <see cref="MatomoSamplingOptions.KeepErrors"/>
    /// on, a call left out by sampling still gets a scope, which records a hit only if the call fails. The adapter then
    /// drives the scope and completes it (or disposes it) when the call ends.
    /// </summary>
    /// <param name="action">The action name, e.g. <c>greet.Greeter/SayHello</c>; a leading '/' is removed.</param>
    /// <param name="kind">The kind of call.</param>
    /// <param name="urlPath">The path of this call's tracked URL; defaults to '/' followed by the action.</param>
#pragma warning disable RS0027 // the overloads with a caller first take urlPath without a default; nothing shipped yet
    public MatomoCallScope? StartCall(string action, MatomoCallKind kind, string? urlPath = null)
#pragma warning restore RS0027
    {
        ArgumentNullException.ThrowIfNull(action);
        if ((_trackedKinds & (1 << (int)kind)) == 0)
        {
            return null;
        }

        var info = GetActionInfo(action);
        if (info.Excluded)
        {
            return null;
        }

        if (_sampling.Keep(info.SampleRate))
        {
            return new MatomoCallScope(info, kind, urlPath);
        }

        if (_sampling.KeepErrors)
        {
            return new MatomoCallScope(info, kind, urlPath, errorsOnly: true);
        }

        _queue.Metrics.SampledOut();
        return null;
    }

    /// <summary>
    /// Starts tracking a call of a known caller, or returns null when the action or call kind is excluded or the caller
    /// opted out (<see cref="MatomoCallerInfo.OptedOut"/>, counted in <see cref="MatomoStatistics.OptedOut"/>); neither
    /// allocates. Otherwise as <see cref="StartCall(string, MatomoCallKind, string?)"/> followed by
    /// <see cref="MatomoCallScope.SetCaller"/>.
    /// </summary>
    /// <param name="caller">Who calls, e.g. from <see cref="ReadCaller(HttpContext)"/>, kept per connection by long-lived transports.</param>
    /// <param name="action">The action name; a leading '/' is removed.</param>
    /// <param name="kind">The kind of call.</param>
    /// <param name="urlPath">The path of this call's tracked URL; null: '/' followed by the action.</param>
    public MatomoCallScope? StartCall(in MatomoCallerInfo caller, string action, MatomoCallKind kind, string? urlPath) =>
        StartCall(caller, action, kind, urlPath, transport: null);

    /// <summary>
    /// Starts tracking a call of a known caller over a known transport (e.g. SignalR's <c>WebSockets</c>), as
    /// <see cref="StartCall(in MatomoCallerInfo, string, MatomoCallKind, string?)"/> followed by setting
    /// <see cref="MatomoCallScope.Transport"/>, but cheaper: the scope is not shared yet, so neither is set under its lock,
    /// and completing a call nothing else changed takes no lock either.
    /// </summary>
    /// <param name="caller">Who calls, kept per connection by long-lived transports.</param>
    /// <param name="action">The action name; a leading '/' is removed.</param>
    /// <param name="kind">The kind of call.</param>
    /// <param name="urlPath">The path of this call's tracked URL; null: '/' followed by the action.</param>
    /// <param name="transport">The transport name recorded as the <c>transport</c> field; null: none.</param>
    public MatomoCallScope? StartCall(in MatomoCallerInfo caller, string action, MatomoCallKind kind, string? urlPath, string? transport)
    {
        if (caller.OptedOut)
        {
            CountOptedOut(action, kind);
            return null;
        }

        // The scope is not shared yet: its caller and transport are set as they are, without a lock.
        var scope = StartCall(action, kind, urlPath);
        if (scope is not null)
        {
            scope.InitTransport(transport);
            scope.InitCaller(caller);
        }

        return scope;
    }

    /// <summary>
    /// Starts tracking a call made by the request of <paramref name="httpContext"/>, or returns null when the action or
    /// call kind is excluded or the request carries the caller's opt-out (<c>Sec-GPC: 1</c> or <c>DNT: 1</c> with
    /// <see cref="MatomoPrivacyOptions.HonorOptOut"/> on; counted in <see cref="MatomoStatistics.OptedOut"/>); neither
    /// allocates. Otherwise as <see cref="StartCall(string, MatomoCallKind, string?)"/> with the caller set from
    /// <see cref="ReadCaller(HttpContext)"/>. This is what a request-per-call adapter (gRPC, plain HTTP) calls.
    /// </summary>
    /// <param name="httpContext">The call's request.</param>
    /// <param name="action">The action name; a leading '/' is removed.</param>
    /// <param name="kind">The kind of call.</param>
    /// <param name="urlPath">The path of this call's tracked URL; null: '/' followed by the action.</param>
    public MatomoCallScope? StartCall(HttpContext httpContext, string action, MatomoCallKind kind, string? urlPath)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        if (IsOptedOut(httpContext.Request.Headers))
        {
            CountOptedOut(action, kind);
            return null;
        }

        var scope = StartCall(action, kind, urlPath);
        if (scope is null)
        {
            return null;
        }

        // The opt-out was just read from these headers: not again. The scope is not shared yet: its caller is set as is.
        scope.InitCaller(ReadCaller(httpContext, userIdentifier: null, readOptOut: false));
        return scope;
    }

    /// <summary>Returns true when calls to <paramref name="action"/> of <paramref name="kind"/> are not tracked.</summary>
    internal bool IsExcluded(string action, MatomoCallKind kind)
    {
        ArgumentNullException.ThrowIfNull(action);
        if ((_trackedKinds & (1 << (int)kind)) == 0)
        {
            return true;
        }

        return _actions.TryGetValue(action, out var info) ? info.Excluded : IsExcludedAction(NormalizeAction(action));
    }

    /// <summary>
    /// Reads the caller from an ASP.NET Core request: remote address (as the forwarded-headers middleware left it),
    /// <c>User-Agent</c>, <c>Accept-Language</c>, <c>Referer</c>, host, scheme, the user or visitor header the visitor
    /// identity option asks for, and the caller's opt-out (<c>Sec-GPC: 1</c> or <c>DNT: 1</c>, when honoured).
    /// </summary>
    public MatomoCallerInfo ReadCaller(HttpContext httpContext) => ReadCaller(httpContext, userIdentifier: null);

    /// <summary>
    /// Reads the caller as <see cref="ReadCaller(HttpContext)"/> does, with the user id the transport already knows
    /// (SignalR's <c>Context.UserIdentifier</c>) preferred to the claims unless <see cref="MatomoUserIdOptions.Claim"/>
    /// names a claim.
    /// </summary>
    /// <param name="httpContext">The request (for SignalR: the connection's negotiate or transport request).</param>
    /// <param name="userIdentifier">The transport's user id, or null.</param>
    public MatomoCallerInfo ReadCaller(HttpContext httpContext, string? userIdentifier) => ReadCaller(httpContext, userIdentifier, readOptOut: true);

    private MatomoCallerInfo ReadCaller(HttpContext httpContext, string? userIdentifier, bool readOptOut)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        var request = httpContext.Request;
        var headers = request.Headers;
        string? userId = null;
        string? visitorKey = null;
        switch (Options.VisitorIdentity)
        {
            case MatomoVisitorIdentity.UserId:
                userId = ReadUserId(httpContext.User, userIdentifier);
                break;
            case MatomoVisitorIdentity.Header when Options.VisitorIdHeader is { } header:
                var value = headers[header].ToString();
                visitorKey = value.Length > 0 ? value : null;
                break;
        }

        return new MatomoCallerInfo
        {
            RemoteAddress = httpContext.Connection.RemoteIpAddress,
            UserAgent = NullIfEmpty(headers.UserAgent.ToString()),
            Language = NullIfEmpty(headers.AcceptLanguage.ToString()),
            Referrer = NullIfEmpty(headers.Referer.ToString()),
            Host = request.Host.HasValue ? request.Host.Value : null,
            Scheme = request.Scheme,
            UserId = userId,
            VisitorKey = visitorKey,
            OptedOut = readOptOut && IsOptedOut(headers),
        };
    }

    internal static string NormalizeAction(string action) => action.StartsWith('/') ? action[1..] : action;

    private ActionInfo CreateActionInfo(string rawAction)
    {
        var action = NormalizeAction(rawAction);
        var actionName = action;
        KeyValuePair<string, string>[] details = [];
        if (Options.ActionDetails.TryGetValue(action, out var configured) || Options.ActionDetails.TryGetValue(rawAction, out configured))
        {
            var list = new List<KeyValuePair<string, string>>(configured.Count);
            foreach (var (name, value) in configured)
            {
                if (name == "action_name")
                {
                    actionName = value;
                }
                else
                {
                    list.Add(new(name, value));
                }
            }

            details = [.. list];
        }

        return new ActionInfo(
            action,
            IsExcludedAction(action),
            TextSanitizer.Clip(actionName, Limits.Url),
            "/" + action,
            details,
            _sampling.RateFor(action),
            _sampling.KeepErrors)
        {
            Key = rawAction,
            Services = _scopes,
        };
    }

    private ActionInfo GetActionInfo(string action)
    {
        // The recent actions' slots are chosen by the string's length and two of its characters, not by its identity:
        // adapters that keep their action strings (SignalR's per-method entries, the HTTP adapter's endpoints) pass the
        // same string every time, found by reference; grpc-dotnet's method is a new string per request, found by comparing
        // its characters with the slot's (a vectorised compare, cheaper than hashing it for the dictionary). The first action
        // cached keeps its slot (another one in the same slot is found in the dictionary), so two actions never take turns
        // writing one slot from several threads.
        ref var slot = ref _recentActions[RecentSlot(action)];
        var recent = Volatile.Read(ref slot);
        if (recent is not null && (ReferenceEquals(recent.Key, action) || string.Equals(recent.Key, action, StringComparison.Ordinal)))
        {
            return recent;
        }

        if (!_actions.TryGetValue(action, out var info))
        {
            info = CreateActionInfo(action);
            if (_actions.Count < Limits.ActionCacheSize)
            {
                info = _actions.GetOrAdd(action, info);
            }
            else
            {
                return info;
            }
        }

        if (recent is null)
        {
            Volatile.Write(ref slot, info);
        }

        return info;
    }

    private static int RecentSlot(string action)
    {
        var length = action.Length;
        return length == 0 ? 0 : ((length * 7) + action[length - 1] + (action[length >> 1] * 3)) & (RecentActionSlots - 1);
    }

    /// <summary>Counts a call whose caller opted out, unless the call would not have been tracked anyway.</summary>
    private void CountOptedOut(string action, MatomoCallKind kind)
    {
        ArgumentNullException.ThrowIfNull(action);
        if ((_trackedKinds & (1 << (int)kind)) != 0 && !GetActionInfo(action).Excluded)
        {
            _scopes.Queue.Metrics.OptedOut();
        }
    }

    /// <summary><c>Sec-GPC: 1</c> (Global Privacy Control) or <c>DNT: 1</c> (Do Not Track), when honoured.</summary>
    private bool IsOptedOut(IHeaderDictionary headers) => _honorOptOut && (HasOne(headers, "Sec-GPC") || HasOne(headers, "DNT"));

    private static bool HasOne(IHeaderDictionary headers, string name)
    {
        if (!headers.TryGetValue(name, out var values))
        {
            return false;
        }

        foreach (var value in values)
        {
            if (value is not null && value.AsSpan().Trim().SequenceEqual("1"))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The configured claim; otherwise the transport's user id, the NameIdentifier claim, then Identity.Name.</summary>
    private string? ReadUserId(ClaimsPrincipal? user, string? userIdentifier)
    {
        var authenticated = user?.Identity?.IsAuthenticated == true;
        if (Options.UserId.Claim is { Length: > 0 } claim)
        {
            return authenticated ? NullIfEmpty(user!.FindFirst(claim)?.Value ?? string.Empty) : null;
        }

        if (!string.IsNullOrEmpty(userIdentifier))
        {
            return userIdentifier;
        }

        if (!authenticated)
        {
            return null;
        }

        return NullIfEmpty(user!.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? string.Empty) ?? NullIfEmpty(user.Identity!.Name ?? string.Empty);
    }

    private bool IsExcludedAction(string action) => _excludedActions.Contains(action) || _scopes.MatchesAny(_excludedPatterns, action);

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
