using System.Diagnostics;
using System.Globalization;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc;

/// <summary>
/// The tracking of one call, as an adapter drives it: started by <see cref="MatomoTracker.StartCall(string, MatomoCallKind, string?)"/>, told who called
/// and how many messages went each way, and completed exactly once into one hit. Service code never sees it: it gets
/// <see cref="Call"/>. <see cref="Dispose"/> completes a call that was not completed as cancelled, so a call whose end
/// the adapter never saw (a stream nobody read to its end) still ends its hit.
/// </summary>
/// <remarks>
/// Thread-safe: duplex handlers may use it from several tasks. Completion is single-winner: the first
/// <see cref="Complete(MatomoOutcome, Exception?)"/> (or <see cref="Dispose"/>, or a skip) decides, with its own outcome;
/// anything set after that is ignored. It never throws because of Matomo and never blocks.
/// </remarks>
/// <example>
/// An adapter's shape (a plain HTTP middleware, say):
/// <code>
/// using var scope = tracker.StartCall("GET /orders/{id}", MatomoCallKind.Http, context.Request.Path);
/// if (scope is null) { await next(context); return; }
/// scope.SetCaller(tracker.ReadCaller(context));
/// scope.SetField("method", context.Request.Method);
/// try { await next(context); }
/// catch (Exception ex) { scope.Complete(new MatomoOutcome("Internal Server Error", 500, IsError: true), ex); throw; }
/// var status = context.Response.StatusCode;
/// scope.Complete(new MatomoOutcome(ReasonPhrases.GetReasonPhrase(status), status, IsError: status >= 400));
/// </code>
/// </example>
[DebuggerDisplay("{Action,nq} ({Kind})")]
public sealed class MatomoCallScope : IDisposable
{
    // The scope is its own lock (lock (this)): a lock object per call would cost every tracked call an allocation, and
    // only adapters ever hold the scope.
    private const int StateActive = 0;
    private const int StateSkipped = 1;
    private const int StateCompleted = 2;

    // Kept in the kind's field: one more field would make every tracked call's scope 8 bytes larger.
    private const int ErrorsOnlyFlag = 1 << 30;

    // Set in the kind's field (with a full fence, under the lock) by every setter before it looks at the state. Completion
    // changes the state (a full fence too) and then reads it: when no setter ever ran, none can be changing the call's
    // data, and the hit is built without taking the lock; otherwise completion takes the lock once, as it always did.
    private const int ChangedFlag = 1 << 29;

    // The tracker's services are reached through the action (one reference less in every tracked call's scope).
    private readonly ActionInfo _info;
    private readonly string _urlPath;
    private readonly long _startTimestamp;
    private int _kindAndFlags;

    // Shared by the calls of the same caller (CallerRecords): one reference here instead of the caller's nine fields.
    private CallerRecord? _caller;
    private string? _transport;

    // What service code and the adapter's fields add, and the call handed to service code, in one object made on first
    // use: most calls add nothing and never hand their call out, and each reference here would cost every tracked call
    // 8 bytes.
    private CallData? _data;
    private int _state;
    private int _received;
    private int _sent;

    internal MatomoCallScope(ActionInfo info, MatomoCallKind kind, string? urlPath, bool errorsOnly = false)
    {
        _info = info;
        _urlPath = urlPath ?? info.UrlPath;
        _kindAndFlags = (int)kind | (errorsOnly ? ErrorsOnlyFlag : 0);
        _startTimestamp = info.Services.Time.GetTimestamp();
    }

    /// <summary>What service code may do with this call: hand it out through the adapter's per-call API.</summary>
    public MatomoCall Call
    {
        get
        {
            var call = Volatile.Read(ref _data)?.Call;
            if (call is not null)
            {
                return call;
            }

            // Made once, under the lock that guards the data: every caller gets the same call. Not a change of the call's
            // data (the changed flag stays as it is): its lists stay as they were.
            lock (this)
            {
                var data = _data ??= new CallData();
                return data.Call ??= new MatomoCall(this);
            }
        }
    }

    /// <summary>The action this call is tracked under, e.g. <c>greet.Greeter/SayHello</c>.</summary>
    public string Action => _info.Action;

    /// <summary>The kind of call.</summary>
    public MatomoCallKind Kind => (MatomoCallKind)(Volatile.Read(ref _kindAndFlags) & ~(ErrorsOnlyFlag | ChangedFlag));

    /// <summary>True once the call was completed or skipped: later changes are ignored.</summary>
    public bool IsFinished => Volatile.Read(ref _state) != StateActive;

    /// <summary>The SignalR transport, or any transport name an adapter records (the built-in <c>transport</c> field).</summary>
    public string? Transport
    {
        get => Volatile.Read(ref _transport);
        set
        {
            lock (this)
            {
                Interlocked.Or(ref _kindAndFlags, ChangedFlag);
                if (_state == StateActive)
                {
                    _transport = value;
                }
            }
        }
    }

    internal bool IsSkipped => Volatile.Read(ref _state) == StateSkipped;

    internal TimeProvider Time => Services.Time;

    private ScopeServices Services => _info.Services;

    // What the completed call's hit reads (see MatomoHit): none of it changes once the call is finished, so the hit holds
    // only what completion adds, and a call's data is not copied.
    internal ActionInfo Info => _info;

    internal string UrlPath => _urlPath;

    internal MatomoCallerInfo Caller => _caller?.Info ?? default;

    /// <summary>The caller's shared record (null: none set): the same object for every call of an equal caller.</summary>
    internal object? CallerIdentity => _caller;

    internal IReadOnlyList<KeyValuePair<string, string>> Parameters => (IReadOnlyList<KeyValuePair<string, string>>?)_data?.Parameters ?? [];

    internal IReadOnlyList<KeyValuePair<string, string>> CustomVariables => (IReadOnlyList<KeyValuePair<string, string>>?)_data?.CustomVariables ?? [];

    internal IReadOnlyList<KeyValuePair<string, string>> Fields => (IReadOnlyList<KeyValuePair<string, string>>?)_data?.Fields ?? [];

    /// <summary>
    /// Sets who made the call. Applies the ignored user agent patterns (a match skips the call) and the caller's opt-out
    /// (<see cref="MatomoCallerInfo.OptedOut"/> ends the call as <see cref="OptOut"/> does).
    /// </summary>
    public void SetCaller(in MatomoCallerInfo caller)
    {
        if (caller.OptedOut)
        {
            OptOut();
            return;
        }

        var record = Services.Callers.Get(caller);
        lock (this)
        {
            Interlocked.Or(ref _kindAndFlags, ChangedFlag);
            if (_state != StateActive)
            {
                return;
            }

            _caller = record;
        }

        if (caller.UserAgent is { Length: > 0 } userAgent && Services.IsIgnoredUserAgent(userAgent))
        {
            Skip();
        }
    }

    /// <summary>
    /// Records an outcome field of the adapter's own, e.g. <c>method</c> = <c>GET</c> for HTTP, beside the built-in
    /// ones (status, kind, messages, error, transport): as an action-scoped custom variable when
    /// <see cref="MatomoOptions.Recording"/> includes custom variables. A later value for the same name replaces the
    /// earlier one; null removes it. Names and values are cut at 200 characters, as Matomo does.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or white space.</exception>
    public void SetField(string name, string? value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Upsert(
            CallList.Fields,
            TextSanitizer.Clip(name, Limits.CustomVariable),
            value is null ? null : TextSanitizer.Clip(value, Limits.CustomVariable),
            Limits.FieldsPerCall,
            isCustomVariable: true,
            initialCapacity: 1);
    }

    /// <summary>Counts one message received by the server.</summary>
    public void CountReceived() => Interlocked.Increment(ref _received);

    /// <summary>
    /// Counts the single request of a unary or server-streaming call before its handler runs: a plain write, as nothing
    /// else counts that call's requests (its handler, which may complete it on another thread, starts after this).
    /// </summary>
    internal void CountSingleRequest() => _received = 1;

    /// <summary>Counts one message sent by the server.</summary>
    public void CountSent() => Interlocked.Increment(ref _sent);

    /// <summary>Completes the call as successful (<see cref="MatomoOutcome.Ok"/>); see <see cref="Complete(MatomoOutcome, Exception?)"/>.</summary>
    /// <returns>True when this completion won and its hit was queued.</returns>
    public bool Complete() => Complete(MatomoOutcome.Ok);

    /// <summary>
    /// Completes the call: stamps its end time and duration, builds its hit with <paramref name="outcome"/> and queues it.
    /// Only the first completion does anything (a skipped call is never completed). A call left out by sampling, whose
    /// scope exists only because failed calls are kept (<see cref="MatomoSamplingOptions.KeepErrors"/>), queues a hit only
    /// when <paramref name="outcome"/> is an error; otherwise it is counted as sampled out.
    /// </summary>
    /// <param name="outcome">How the call ended.</param>
    /// <param name="exception">The exception it failed with, if any: its type name is recorded as the <c>error</c> field
    /// (and, with <see cref="MatomoOptions.TrackCrashes"/> on, its message).</param>
    /// <returns>True when this completion won and its hit was queued; false when the call was already finished, was sampled out, or the queue refused the hit.</returns>
    public bool Complete(MatomoOutcome outcome, Exception? exception = null) => Complete(outcome, exception, sentBesides: 0);

    /// <summary>
    /// Completes the call as <see cref="Complete(MatomoOutcome, Exception?)"/> does, with <paramref name="sentBesides"/>
    /// messages sent on top of those counted: the adapter's count of a single response, which only the hit reads, folded
    /// into completion instead of an atomic increment of its own.
    /// </summary>
    internal bool Complete(MatomoOutcome outcome, Exception? exception, int sentBesides)
    {
        if (Interlocked.CompareExchange(ref _state, StateCompleted, StateActive) != StateActive)
        {
            return false;
        }

        if ((Volatile.Read(ref _kindAndFlags) & ErrorsOnlyFlag) != 0 && !outcome.IsError)
        {
            Services.Queue.Metrics.SampledOut();
            return false;
        }

        try
        {
            // One clock read: the duration and the time of day both come from it (see ScopeServices.UtcAt).
            var end = Services.Time.GetTimestamp();
            var duration = Services.Time.GetElapsedTime(_startTimestamp, end);
            var timestamp = Services.UtcAt(end);
            string? errorType = null;
            string? errorMessage = null;
            if (exception is not null)
            {
                errorType = exception.GetType().Name;
                if (Services.KeepErrorMessages)
                {
                    errorMessage = TextSanitizer.Clip(exception.Message, Limits.ParameterValue);
                }
            }

            // Setters that got the lock before the state changed are in; any later one sees the state and does nothing,
            // so what the hit reads from here on stays as it is now. A call no setter touched needs no lock for that.
            if ((Volatile.Read(ref _kindAndFlags) & ChangedFlag) != 0)
            {
                lock (this)
                {
                    // Nothing to do inside: holding the lock once means every setter that got in before is out.
                }
            }

            var hit = new MatomoHit(this, outcome, timestamp, duration, Volatile.Read(ref _received), Volatile.Read(ref _sent) + sentBesides, errorType, errorMessage);

            // Offered and queued are counted by the queue (one atomic for both, see HitQueue).
            return Services.Queue.TryWrite(hit);
        }
#pragma warning disable CA1031 // tracking never throws into the call
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Services.OnCompleteFailed(ex);
            return false;
        }
    }

    /// <summary>Completes the call as <see cref="MatomoOutcome.Cancelled"/> unless it was completed or skipped.</summary>
    public void Dispose() => Complete(MatomoOutcome.Cancelled);

    /// <summary>
    /// Ends the call without a hit because its caller opted out of tracking (e.g. the app marked the caller so after the
    /// call started); it is counted in <see cref="MatomoStatistics.OptedOut"/>. Does nothing once the call is finished.
    /// </summary>
    public void OptOut()
    {
        if (Interlocked.CompareExchange(ref _state, StateSkipped, StateActive) == StateActive)
        {
            Services.Queue.Metrics.OptedOut();
        }
    }

    /// <summary>
    /// Sets the caller (who did not opt out) of a scope nobody else has seen yet, as <see cref="SetCaller"/> does (the
    /// ignored user agents apply) but without the lock, so that completing the call needs none either.
    /// </summary>
    internal void InitCaller(in MatomoCallerInfo caller)
    {
        _caller = Services.Callers.Get(caller);
        if (caller.UserAgent is { Length: > 0 } userAgent && Services.IsIgnoredUserAgent(userAgent))
        {
            Skip();
        }
    }

    /// <summary>
    /// Sets the transport of a scope nobody else has seen yet, as <see cref="Transport"/> does but without the lock, so
    /// that completing the call needs none either.
    /// </summary>
    internal void InitTransport(string? transport) => _transport = transport;

    internal void Skip() => Interlocked.CompareExchange(ref _state, StateSkipped, StateActive);

    internal void SetParameter(string name, string? value) => Upsert(CallList.Parameters, name, value, Limits.ParametersPerCall, isCustomVariable: false);

    internal void SetPerf(string name, TimeSpan elapsed) =>
        SetParameter(name, ParameterRules.ToPerfMilliseconds(elapsed).ToString(CultureInfo.InvariantCulture));

    internal void AddCustomVariable(string name, string value) => Upsert(CallList.CustomVariables, name, value, Limits.CustomVariablesPerCall, isCustomVariable: true);

    // An adapter's fields are few (the HTTP adapter sets one, the method, on every request): their list starts with room
    // for one, 48 bytes less per call than room for four; service code's parameters and variables start with four.
    private void Upsert(CallList which, string name, string? value, int limit, bool isCustomVariable, int initialCapacity = 4)
    {
        lock (this)
        {
            Interlocked.Or(ref _kindAndFlags, ChangedFlag);
            if (_state != StateActive)
            {
                return;
            }

            if (value is null && _data is null)
            {
                return;
            }

            var data = _data ??= new CallData();
            ref var list = ref data.Of(which);
            if (value is null && list is null)
            {
                return;
            }

            list ??= new List<KeyValuePair<string, string>>(initialCapacity);
            for (var i = 0; i < list.Count; i++)
            {
                if (string.Equals(list[i].Key, name, StringComparison.Ordinal))
                {
                    if (value is null)
                    {
                        list.RemoveAt(i);
                    }
                    else
                    {
                        list[i] = new(name, value);
                    }

                    return;
                }
            }

            if (value is null)
            {
                return;
            }

            if (list.Count >= limit)
            {
                Services.OnPerCallLimitReached(isCustomVariable, limit);
                return;
            }

            list.Add(new(name, value));
        }
    }

    private enum CallList
    {
        Parameters,
        CustomVariables,
        Fields,
    }

    /// <summary>The lists service code and the adapter fill, and the call handed out, made on first use (guarded by the scope's lock).</summary>
    private sealed class CallData
    {
        public volatile MatomoCall? Call;
        public List<KeyValuePair<string, string>>? Parameters;
        public List<KeyValuePair<string, string>>? CustomVariables;
        public List<KeyValuePair<string, string>>? Fields;

        public ref List<KeyValuePair<string, string>>? Of(CallList which)
        {
            switch (which)
            {
                case CallList.Parameters:
                    return ref Parameters;
                case CallList.CustomVariables:
                    return ref CustomVariables;
                default:
                    return ref Fields;
            }
        }
    }
}
