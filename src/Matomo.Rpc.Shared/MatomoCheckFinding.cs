namespace Matomo.Rpc;

/// <summary>One finding of the Matomo-side check, in plain words naming the setting or Matomo screen that fixes it.</summary>
public sealed class MatomoCheckFinding
{
    /// <summary>Creates a finding.</summary>
    /// <param name="severity">How much it matters.</param>
    /// <param name="code">A stable identifier, e.g. <c>site-missing</c>, <c>dimension-scope</c>.</param>
    /// <param name="message">What was found and how to fix it. Never contains the token.</param>
    public MatomoCheckFinding(MatomoCheckSeverity severity, string code, string message)
    {
        ArgumentNullException.ThrowIfNull(code);
        ArgumentNullException.ThrowIfNull(message);
        Severity = severity;
        Code = code;
        Message = message;
    }

    /// <summary>How much it matters.</summary>
    public MatomoCheckSeverity Severity { get; }

    /// <summary>A stable identifier, e.g. <c>site-missing</c>, <c>dimension-scope</c>.</summary>
    public string Code { get; }

    /// <summary>What was found and how to fix it. Never contains the token.</summary>
    public string Message { get; }

    /// <inheritdoc />
    public override string ToString() => $"[{Severity}] {Code}: {Message}";
}
