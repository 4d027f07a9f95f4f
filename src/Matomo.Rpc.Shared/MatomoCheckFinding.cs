namespace Matomo.Rpc;

/// <summary>One finding of the Matomo-side check, in plain words naming the setting or Matomo screen that fixes it.</summary>
/// <param name="Severity">How much it matters.</param>
/// <param name="Code">A stable identifier, e.g. <c>site-missing</c>, <c>dimension-scope</c>.</param>
/// <param name="Message">What was found and how to fix it. Never contains the token.</param>
public sealed record MatomoCheckFinding(MatomoCheckSeverity Severity, string Code, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"[{Severity}] {Code}: {Message}";
}
