using System.Diagnostics;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc;

/// <summary>
/// What service code may do with the call it handles: set a Tracking API parameter, add a custom variable, time a
/// block, skip tracking, and read the action and kind. Handed out by the adapters' per-call API
/// (<c>context.GetMatomoCall()</c>); the adapter alone ends the call. Thread-safe; after the call ended, changes are
/// ignored.
/// </summary>
[DebuggerDisplay("{Action,nq} ({Kind})")]
public sealed class MatomoCall
{
    private readonly MatomoCallScope? _scope;

    internal MatomoCall(MatomoCallScope? scope)
    {
        _scope = scope;
    }

    /// <summary>
    /// A call that records nothing: its methods check their arguments as on a tracked call, then do nothing. Adapters
    /// use it for calls that are not tracked, so that a wrong name fails in every environment. Its action is empty.
    /// </summary>
    public static MatomoCall Untracked { get; } = new(null);

    /// <summary>The action this call is tracked under, e.g. <c>greet.Greeter/SayHello</c>.</summary>
    public string Action => _scope?.Action ?? string.Empty;

    /// <summary>The kind of call.</summary>
    public MatomoCallKind Kind => _scope?.Kind ?? default;

    /// <summary>True once the call was skipped (by service code, or by the ignored user agents), and for <see cref="Untracked"/>.</summary>
    public bool IsSkipped => _scope?.IsSkipped ?? true;

    /// <summary>
    /// Sets a Matomo Tracking API parameter for this call only, e.g. <c>e_c</c>, <c>dimension3</c>, <c>action_name</c>;
    /// a later value for the same name replaces the earlier one. A null value removes it.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The name is not letters, digits, <c>_</c> and <c>-</c> (Matomo would read a '.' or '[' in it as another name), or is one the tracker owns (<c>idsite</c>, <c>rec</c>, <c>apiv</c>, <c>token_auth</c>, <c>cip</c>, <c>cdt</c>,
    /// <c>send_image</c>, <c>rand</c>), one that would make Matomo drop the hit (<c>cvar</c>, <c>ca</c>), or the value is
    /// one Matomo refuses for that name (a <c>cid</c> that is not 16 hex characters, a <c>pf_*</c> that is not whole milliseconds).
    /// </exception>
    public void SetVar(string name, string? value)
    {
        ParameterRules.ValidateName(name, nameof(name));
        if (value is not null)
        {
            ParameterRules.ValidateValue(name, value, nameof(value));
        }

        _scope?.SetParameter(name, value is null ? null : TextSanitizer.Clip(value, Limits.ParameterValue));
    }

    /// <summary>
    /// Adds an action-scoped custom variable for this call (sent in <c>cvar</c> after the built-in ones, in the slots left).
    /// A later value for the same name replaces the earlier one. Names and values are cut at 200 characters, as Matomo does.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or white space.</exception>
    public void AddCustomVariable(string name, string? value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        _scope?.AddCustomVariable(
            TextSanitizer.Clip(name, Limits.CustomVariable),
            value is null ? string.Empty : TextSanitizer.Clip(value, Limits.CustomVariable));
    }

    /// <summary>Starts timing a block into the <c>pf_*</c> parameter <paramref name="name"/>; dispose the result to stop.</summary>
    /// <exception cref="ArgumentException">The name does not start with <c>pf_</c>.</exception>
    public MatomoPerfTimer MeasurePerf(string name = "pf_srv")
    {
        ParameterRules.ValidatePerfName(name, nameof(name));
        return _scope is null ? default : new MatomoPerfTimer(_scope, name, _scope.Time.GetTimestamp());
    }

    /// <summary>Records <paramref name="elapsed"/> in the <c>pf_*</c> parameter <paramref name="name"/> as whole milliseconds.</summary>
    /// <exception cref="ArgumentException">The name does not start with <c>pf_</c>.</exception>
    public void SetPerf(string name, TimeSpan elapsed)
    {
        ParameterRules.ValidatePerfName(name, nameof(name));
        _scope?.SetPerf(name, elapsed);
    }

    /// <summary>Skips tracking of this call: no hit is sent, however it ends.</summary>
    public void Skip() => _scope?.Skip();
}
