namespace Matomo.Rpc.Internal;

/// <summary>What is constant per action: computed once and cached by the tracker.</summary>
internal sealed class ActionInfo
{
    public ActionInfo(string action, bool excluded, string actionName, string urlPath, KeyValuePair<string, string>[] details, double sampleRate = 1, bool keepErrors = true)
    {
        SampleRate = sampleRate;
        KeepErrors = keepErrors;
        SampleRateText = SamplingRules.Text(sampleRate);
        Action = action;
        Excluded = excluded;
        ActionName = actionName;
        UrlPath = urlPath;
        Details = details;
    }

    public string Action { get; }

    /// <summary>The string the tracker was asked about when it made this (the action as the adapter passed it).</summary>
    public string Key { get; init; } = string.Empty;

    /// <summary>The tracker's services, which the scopes of this action's calls use.</summary>
    public required ScopeServices Services { get; init; }

    public bool Excluded { get; }

    public string ActionName { get; }

    public string UrlPath { get; }

    public KeyValuePair<string, string>[] Details { get; }

    /// <summary>The fraction of this action's calls tracked (<see cref="MatomoOptions.Sampling"/>), 1 for all.</summary>
    public double SampleRate { get; }

    /// <summary>Sampling keeps every failed call: a failed call's hit stands for itself and records no rate.</summary>
    public bool KeepErrors { get; }

    /// <summary>The rate as recorded on a sampled hit, or null when every call is tracked.</summary>
    public string? SampleRateText { get; }
}
