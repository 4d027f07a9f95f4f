namespace Matomo.Rpc.AspNetCore;

/// <summary>
/// How plain HTTP requests are tracked: the <c>Matomo:Http</c> configuration section, bound and checked at start by
/// <c>AddHttpTracking</c>. Everything else (exclusions, action details, visitor identity, privacy, sending) comes from
/// <see cref="MatomoOptions"/> and applies to HTTP requests as it does to gRPC calls, by the action name
/// <c>GET /users/{id}</c> (the method and the route pattern) or <c>GET (unmatched)</c>.
/// </summary>
public class MatomoHttpOptions
{
    /// <summary>The name of the section under <c>Matomo</c> these options are bound from.</summary>
    public const string SectionName = "Http";

    /// <summary>
    /// Keep the query string in the tracked URL. Off by default: query strings carry ids, tokens and personal data,
    /// and make every URL distinct in Matomo's reports.
    /// </summary>
    public bool KeepQuery { get; set; }

    /// <summary>
    /// The HTTP methods tracked, e.g. <c>GET</c>, <c>POST</c>; empty (the default) tracks every method. A method that is
    /// not a standard one (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT, QUERY) is recorded as
    /// <c>OTHER</c> unless it is listed here, so that clients cannot invent actions.
    /// </summary>
    public List<string> AllowedMethods { get; set; } = [];

    /// <summary>HTTP methods never tracked, e.g. <c>OPTIONS</c> for CORS preflights or <c>HEAD</c>. Wins over <see cref="AllowedMethods"/>.</summary>
    public List<string> IgnoredMethods { get; set; } = [];

    /// <summary>
    /// Leave out the endpoints of <c>MapHealthChecks</c> (on by default): probes are not visits. Health checks served by
    /// the <c>UseHealthChecks</c> middleware before <c>UseMatomoTracking</c> never reach the tracking.
    /// </summary>
    public bool ExcludeHealthChecks { get; set; } = true;

    /// <summary>
    /// Leave out static files (on by default): the endpoints of <c>MapStaticAssets</c>, and files that
    /// <c>UseStaticFiles</c> serves after <c>UseMatomoTracking</c> (with its options from DI).
    /// </summary>
    public bool ExcludeStaticFiles { get; set; } = true;

    /// <summary>
    /// The ID of an action-scoped custom dimension that receives the HTTP method (with <c>Matomo:Recording</c>
    /// including CustomDimensions). The method is always recorded as the custom variable <c>method</c> when custom
    /// variables are recorded; the status and kind go where <c>Matomo:Dimensions:Outcome</c> and <c>CallKind</c> say.
    /// </summary>
    public int? MethodDimension { get; set; }
}
