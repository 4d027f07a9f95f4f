namespace Matomo.Rpc;

/// <summary>Where the built-in fields of a hit (outcome, call kind, message counts, error type, transport) are written.</summary>
[Flags]
public enum MatomoRecording
{
    /// <summary>The built-in fields are not sent (the action, timing and per-call parameters still are).</summary>
    None = 0,

    /// <summary>
    /// Action-scoped custom variables (<c>cvar</c>). Needs the CustomVariables plugin, which Matomo 4 and later
    /// no longer install by default.
    /// </summary>
    CustomVariables = 1,

    /// <summary>
    /// Custom dimensions (<c>dimensionN</c>), with the index of each field set in <see cref="MatomoOptions.Dimensions"/>.
    /// The dimensions must exist in Matomo with the action scope.
    /// </summary>
    CustomDimensions = 2,

    /// <summary>Both custom variables and custom dimensions.</summary>
    Both = CustomVariables | CustomDimensions,
}
