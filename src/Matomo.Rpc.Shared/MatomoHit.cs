using Matomo.Rpc.Internal;

namespace Matomo.Rpc;

/// <summary>
/// One finished call, immutable, as it waits to be encoded and sent. Built exactly once per tracked call, by its
/// <see cref="MatomoCallScope"/> when it completes.
/// </summary>
public sealed class MatomoHit
{
    // The completed scope holds the call's data, which no longer changes once the call is finished: the hit adds only
    // what completion decided, so a tracked call's data is not copied into a second large object. Every tracked call
    // allocates one hit, so what completion decided is kept packed (72 bytes instead of 96): the outcome's name and its
    // code and error flag in one long, the time as UTC ticks, the error as one reference (its type name, or a pair).
    private const long HasCodeBit = 1L << 32;
    private const long IsErrorBit = 1L << 33;

    private readonly MatomoCallScope _scope;
    private readonly string _outcomeName;
    private readonly long _outcomeBits;
    private readonly long _utcTicks;
    private readonly object? _error;

    internal MatomoHit(
        MatomoCallScope scope,
        MatomoOutcome outcome,
        DateTimeOffset timestamp,
        TimeSpan duration,
        int messagesReceived,
        int messagesSent,
        string? errorType,
        string? errorMessage)
    {
        _scope = scope;
        _outcomeName = outcome.Name;
        _outcomeBits = (outcome.Code is { } code ? (uint)code | HasCodeBit : 0) | (outcome.IsError ? IsErrorBit : 0);
        _utcTicks = timestamp.UtcTicks;
        Duration = duration;
        MessagesReceived = messagesReceived;
        MessagesSent = messagesSent;
        _error = errorMessage is null ? errorType : new ErrorDetail(errorType, errorMessage);
    }

    /// <summary>The action the call was tracked under, e.g. <c>greet.Greeter/SayHello</c> or <c>ChatHub/Send</c>.</summary>
    public string Action => _scope.Info.Action;

    /// <summary>The page title sent as <c>action_name</c> (the action unless renamed by <see cref="MatomoOptions.ActionDetails"/>).</summary>
    public string ActionName => _scope.Info.ActionName;

    /// <summary>The path of the tracked URL, starting with '/'.</summary>
    public string UrlPath => _scope.UrlPath;

    /// <summary>The kind of call.</summary>
    public MatomoCallKind Kind => _scope.Kind;

    /// <summary>Who made the call.</summary>
    public MatomoCallerInfo Caller => _scope.Caller;

    /// <summary>
    /// The caller's shared record: the same object for the hits of an equal caller (see <c>CallerRecords</c>), so what is
    /// derived from the caller alone (its encoded fragments, its lane) can be cached by reference; null when none was set.
    /// Different objects may still be equal callers (a record replaced in its slot).
    /// </summary>
    internal object? CallerIdentity => _scope.CallerIdentity;

    /// <summary>How the call ended.</summary>
    public MatomoOutcome Outcome => new(_outcomeName, (_outcomeBits & HasCodeBit) != 0 ? (int)_outcomeBits : null, (_outcomeBits & IsErrorBit) != 0);

    /// <summary>When the call ended, in UTC (sent as <c>cdt</c>, so delayed sending keeps the real time).</summary>
    public DateTimeOffset Timestamp => new(_utcTicks, TimeSpan.Zero);

    /// <summary>How long the call took, streams included.</summary>
    public TimeSpan Duration { get; }

    /// <summary>Messages the server received (streaming calls).</summary>
    public int MessagesReceived { get; }

    /// <summary>Messages the server sent (streaming calls).</summary>
    public int MessagesSent { get; }

    /// <summary>Type name of the exception the call failed with, if any.</summary>
    public string? ErrorType => _error as string ?? (_error as ErrorDetail)?.Type;

    /// <summary>The exception's message, kept only when <see cref="MatomoOptions.TrackCrashes"/> is on.</summary>
    public string? ErrorMessage => (_error as ErrorDetail)?.Message;

    /// <summary>The SignalR transport, if any.</summary>
    public string? Transport => _scope.Transport;

    /// <summary>Tracking API parameters set for this call by service code, in the order set (pf_* timers included).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters => _scope.Parameters;

    /// <summary>Custom variables added for this call by service code, in the order added.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> CustomVariables => _scope.CustomVariables;

    /// <summary>The adapter's own outcome fields (<see cref="MatomoCallScope.SetField"/>), e.g. the HTTP method.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Fields => _scope.Fields;

    /// <summary>
    /// The chance this call had of being tracked (<see cref="MatomoOptions.Sampling"/>): its action's sample rate, or 1 when
    /// every such call is tracked, as failed calls are with <see cref="MatomoSamplingOptions.KeepErrors"/>. Each hit stands
    /// for 1 / <see cref="SampleRate"/> calls; below 1 it is recorded as the <c>sample</c> field.
    /// </summary>
    public double SampleRate => IsKeptError ? 1 : _scope.Info.SampleRate;

    /// <summary>The sample rate as recorded, or null when it is 1 (not recorded).</summary>
    internal string? SampleRateText => IsKeptError ? null : _scope.Info.SampleRateText;

    // Decided from what the hit already holds (no field of its own: every tracked call allocates a hit).
    private bool IsKeptError => (_outcomeBits & IsErrorBit) != 0 && _scope.Info.KeepErrors;

    /// <summary>The parameters configured for the action (<see cref="MatomoOptions.ActionDetails"/>), without <c>action_name</c>.</summary>
    internal IReadOnlyList<KeyValuePair<string, string>> Details => _scope.Info.Details;

    /// <summary>A failed call's exception type and message, when its message is kept (crash tracking on).</summary>
    private sealed record ErrorDetail(string? Type, string Message);
}
