namespace Matomo.Rpc.TestSupport;

/// <summary>The parameter names the per-call API refuses, for every adapter's tests (<c>[TestCaseSource]</c>).</summary>
public static class ReservedNames
{
    /// <summary>
    /// What the tracker sets itself (<c>idsite</c>, <c>rec</c>, <c>apiv</c>, <c>token_auth</c>, <c>cip</c>, <c>cdt</c>,
    /// <c>send_image</c>, <c>rand</c>), custom variables other than through their own call (<c>cvar</c>, <c>_cvar</c>) and
    /// <c>ca</c>, which makes Matomo roll back a whole batch.
    /// </summary>
    public static readonly string[] PerCall = ["idsite", "rec", "apiv", "token_auth", "cip", "cdt", "send_image", "rand", "cvar", "_cvar", "ca"];
}
