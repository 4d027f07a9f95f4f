namespace Matomo.Rpc.Internal;

/// <summary>A configuration key or value that cannot be bound: its full key, its key below the options' section, and the message.</summary>
internal sealed record ConfigurationProblem(string Key, string RelativeKey, string Message);
