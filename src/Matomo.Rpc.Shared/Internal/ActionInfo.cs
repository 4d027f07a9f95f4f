namespace Matomo.Rpc.Internal;

/// <summary>What is constant per action: computed once and cached by the tracker.</summary>
internal sealed class ActionInfo
{
    public ActionInfo(string action, bool excluded, string actionName, string urlPath, KeyValuePair<string, string>[] details)
    {
        Action = action;
        Excluded = excluded;
        ActionName = actionName;
        UrlPath = urlPath;
        Details = details;
    }

    public string Action { get; }

    public bool Excluded { get; }

    public string ActionName { get; }

    public string UrlPath { get; }

    public KeyValuePair<string, string>[] Details { get; }
}
