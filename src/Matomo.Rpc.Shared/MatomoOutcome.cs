namespace Matomo.Rpc;

/// <summary>How a call ended, as recorded in Matomo, e.g. <c>OK (0)</c>, <c>NotFound (5)</c> or <c>error</c>.</summary>
/// <param name="Name">The outcome's name: a gRPC status code name, or <c>ok</c>, <c>error</c>, <c>cancelled</c>.</param>
/// <param name="Code">The outcome's number where the protocol has one (the gRPC status code).</param>
/// <param name="IsError">Whether the call failed.</param>
public readonly record struct MatomoOutcome(string Name, int? Code = null, bool IsError = false)
{
    /// <summary>A successful call without a status number.</summary>
    public static MatomoOutcome Ok { get; } = new("ok");

    /// <summary>A failed call without a status number.</summary>
    public static MatomoOutcome Error { get; } = new("error", null, true);

    /// <summary>A call cancelled by its caller.</summary>
    public static MatomoOutcome Cancelled { get; } = new("cancelled", null, true);

    /// <summary>The text recorded in Matomo: the name, followed by the code in parentheses when there is one.</summary>
    public override string ToString() => Code is { } code
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Name} ({code})")
        : Name ?? string.Empty;
}
