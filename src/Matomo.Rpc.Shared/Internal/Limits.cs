namespace Matomo.Rpc.Internal;

/// <summary>Matomo's storage limits (MATOMO.md) and this library's own caps.</summary>
internal static class Limits
{
    /// <summary>url and action_name are truncated by Matomo at 1024 characters.</summary>
    public const int Url = 1024;

    /// <summary>Custom variable names and values are truncated at 200.</summary>
    public const int CustomVariable = 200;

    /// <summary>Custom dimension values are truncated at 250.</summary>
    public const int Dimension = 250;

    /// <summary>Any other value: nothing Matomo stores is longer; keeps queued hits small.</summary>
    public const int ParameterValue = 1024;

    /// <summary>Parameter names longer than this are not Tracking API parameters.</summary>
    public const int ParameterName = 64;

    /// <summary>pf_* values above this are ignored by Matomo.</summary>
    public const long PerfMax = 16_777_215;

    public const int ParametersPerCall = 64;

    public const int CustomVariablesPerCall = 50;

    /// <summary>Outcome fields an adapter records per call (<see cref="MatomoCallScope.SetField"/>).</summary>
    public const int FieldsPerCall = 8;

    public const int ActionCacheSize = 4096;
}
