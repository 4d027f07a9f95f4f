using System.Diagnostics;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc;

/// <summary>
/// The tracking scope of one call: created by an adapter when the call starts (<see cref="MatomoTracker.StartCall"/>),
/// filled by the adapter and by service code, and completed once into one <see cref="MatomoHit"/>.
/// Thread-safe: duplex handlers may use it from several tasks.
/// </summary>
[DebuggerDisplay("{Action,nq} ({Kind})")]
public sealed class MatomoCall
{
    private const int StateActive = 0;
    private const int StateSkipped = 1;
    private const int StateCompleted = 2;

    private readonly Lock _gate = new();
    private readonly long _startTimestamp;
    private List<KeyValuePair<string, string>>? _parameters;
    private List<KeyValuePair<string, string>>? _customVariables;
    private MatomoCallerInfo _caller;
    private MatomoOutcome _outcome = MatomoOutcome.Ok;
    private int _state;
    private int _received;
    private int _sent;

    internal MatomoCall(MatomoTracker tracker, ActionInfo info, MatomoCallKind kind)
    {
        Tracker = tracker;
        Info = info;
        Kind = kind;
        _startTimestamp = tracker.TimeProvider.GetTimestamp();
    }

    internal MatomoTracker Tracker { get; }

    internal ActionInfo Info { get; }

    /// <summary>The action this call is tracked under, e.g. <c>greet.Greeter/SayHello</c>.</summary>
    public string Action => Info.Action;

    /// <summary>The kind of call.</summary>
    public MatomoCallKind Kind { get; }

    /// <summary>True once the call was skipped (by service code, or by the ignored user agents).</summary>
    public bool IsSkipped => Volatile.Read(ref _state) == StateSkipped;

    /// <summary>True once the call was completed or skipped: later changes are ignored.</summary>
    public bool IsFinished => Volatile.Read(ref _state) != StateActive;

    /// <summary>Messages received so far.</summary>
    public int MessagesReceived => Volatile.Read(ref _received);

    /// <summary>Messages sent so far.</summary>
    public int MessagesSent => Volatile.Read(ref _sent);

    /// <summary>The SignalR transport (or any transport name an adapter records).</summary>
    public string? Transport { get; set; }

    internal string? ErrorType { get; private set; }

    internal string? ErrorMessage { get; private set; }

    /// <summary>Sets who made the call. Applies the ignored user agent patterns: a match skips the call.</summary>
    public void SetCaller(in MatomoCallerInfo caller)
    {
        _caller = caller;
        if (caller.UserAgent is { Length: > 0 } userAgent && Tracker.IsIgnoredUserAgent(userAgent))
        {
            Skip();
        }
    }

    /// <summary>
    /// Sets a Matomo Tracking API parameter for this call only, e.g. <c>e_c</c>, <c>dimension3</c>, <c>action_name</c>;
    /// a later value for the same name replaces the earlier one. A null value removes it.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The name is one the tracker owns (<c>idsite</c>, <c>rec</c>, <c>apiv</c>, <c>token_auth</c>, <c>cip</c>, <c>cdt</c>,
    /// <c>send_image</c>, <c>rand</c>), one that would make Matomo drop the hit (<c>cvar</c>, <c>ca</c>), or the value is
    /// one Matomo refuses for that name (a <c>cid</c> that is not 16 hex characters, a <c>pf_*</c> that is not whole milliseconds).
    /// </exception>
    public void SetVar(string name, string? value)
    {
        ParameterRules.ValidateName(name, nameof(name));
        if (value is not null)
        {
            ParameterRules.ValidateValue(name, value, nameof(value));
            value = TextSanitizer.Clip(value, Limits.ParameterValue);
        }

        Upsert(ref _parameters, name, value, Limits.ParametersPerCall, isCustomVariable: false);
    }

    /// <summary>
    /// Throws the <see cref="ArgumentException"/> that <see cref="SetVar"/> would throw for <paramref name="name"/> and
    /// <paramref name="value"/>, without a call: adapters use it so that a per-call API rejects the same names on an
    /// untracked call as on a tracked one.
    /// </summary>
    /// <exception cref="ArgumentException">See <see cref="SetVar"/>.</exception>
    public static void ValidateVar(string name, string? value)
    {
        ParameterRules.ValidateName(name, nameof(name));
        if (value is not null)
        {
            ParameterRules.ValidateValue(name, value, nameof(value));
        }
    }

    /// <summary>
    /// Throws the <see cref="ArgumentException"/> that <see cref="MeasurePerf"/> would throw for <paramref name="name"/>,
    /// without a call (see <see cref="ValidateVar"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The name is not a <c>pf_*</c> parameter.</exception>
    public static void ValidatePerfName(string name) => ParameterRules.ValidatePerfName(name, nameof(name));

    /// <summary>
    /// Adds an action-scoped custom variable for this call (sent in <c>cvar</c> after the built-in ones, in the slots left).
    /// A later value for the same name replaces the earlier one. Names and values are cut at 200 characters, as Matomo does.
    /// </summary>
    public void AddCustomVariable(string name, string? value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Upsert(
            ref _customVariables,
            TextSanitizer.Clip(name, Limits.CustomVariable),
            value is null ? string.Empty : TextSanitizer.Clip(value, Limits.CustomVariable),
            Limits.CustomVariablesPerCall,
            isCustomVariable: true);
    }

    /// <summary>Starts timing a block into the <c>pf_*</c> parameter <paramref name="name"/>; dispose the result to stop.</summary>
    /// <exception cref="ArgumentException">The name does not start with <c>pf_</c>.</exception>
    public MatomoPerfTimer MeasurePerf(string name = "pf_srv")
    {
        ParameterRules.ValidatePerfName(name, nameof(name));
        return new MatomoPerfTimer(this, name, Tracker.TimeProvider.GetTimestamp());
    }

    /// <summary>Records <paramref name="elapsed"/> in the <c>pf_*</c> parameter <paramref name="name"/> as whole milliseconds.</summary>
    public void SetPerf(string name, TimeSpan elapsed)
    {
        ParameterRules.ValidatePerfName(name, nameof(name));
        var ms = ParameterRules.ToPerfMilliseconds(elapsed);
        Upsert(ref _parameters, name, ms.ToString(System.Globalization.CultureInfo.InvariantCulture), Limits.ParametersPerCall, isCustomVariable: false);
    }

    /// <summary>Skips tracking of this call: no hit is sent.</summary>
    public void Skip() => Interlocked.CompareExchange(ref _state, StateSkipped, StateActive);

    /// <summary>Counts one message received by the server.</summary>
    public void CountReceived() => Interlocked.Increment(ref _received);

    /// <summary>Counts one message sent by the server.</summary>
    public void CountSent() => Interlocked.Increment(ref _sent);

    /// <summary>Sets how the call ended (last write wins).</summary>
    public void SetOutcome(MatomoOutcome outcome) => _outcome = outcome;

    /// <summary>Records the exception a call failed with: its type name (and, with crash tracking on, its message).</summary>
    public void SetException(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        ErrorType = exception.GetType().Name;
        if (Tracker.Options.TrackCrashes)
        {
            ErrorMessage = TextSanitizer.Clip(exception.Message, Limits.ParameterValue);
        }
    }

    /// <summary>Completes the call with <paramref name="outcome"/>; see <see cref="Complete()"/>.</summary>
    public bool Complete(MatomoOutcome outcome)
    {
        _outcome = outcome;
        return Complete();
    }

    /// <summary>
    /// Completes the call: stamps its end time and duration and queues its hit. Only the first call does anything;
    /// returns true when a hit was queued. Never throws and never blocks.
    /// </summary>
    public bool Complete()
    {
        if (Interlocked.CompareExchange(ref _state, StateCompleted, StateActive) != StateActive)
        {
            return false;
        }

        try
        {
            var time = Tracker.TimeProvider;
            var duration = time.GetElapsedTime(_startTimestamp);
            MatomoHit hit;
            lock (_gate)
            {
                hit = new MatomoHit(
                    this,
                    _caller,
                    _outcome,
                    time.GetUtcNow(),
                    duration,
                    _parameters is null ? [] : _parameters.ToArray(),
                    _customVariables is null ? [] : _customVariables.ToArray());
            }

            return Tracker.Enqueue(hit);
        }
#pragma warning disable CA1031 // tracking never throws into the call
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Tracker.OnCompleteFailed(ex);
            return false;
        }
    }

    private void Upsert(ref List<KeyValuePair<string, string>>? list, string name, string? value, int limit, bool isCustomVariable)
    {
        lock (_gate)
        {
            if (_state != StateActive)
            {
                return;
            }

            list ??= new List<KeyValuePair<string, string>>(4);
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
                Tracker.OnPerCallLimitReached(isCustomVariable, limit);
                return;
            }

            list.Add(new(name, value));
        }
    }
}
