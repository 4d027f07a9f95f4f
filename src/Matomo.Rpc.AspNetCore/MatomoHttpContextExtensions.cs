using Matomo.Rpc.AspNetCore.Internal;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.AspNetCore;

/// <summary>
/// The per-request Matomo API for endpoint code, with the same names as on gRPC's <c>ServerCallContext</c>: set
/// Tracking API parameters, add custom variables, time blocks and skip tracking, for the current request only. On a
/// request that is not tracked (excluded, skipped, a gRPC or hub request, or no <c>UseMatomoTracking</c>) these
/// methods do nothing, but they refuse the same invalid names as on a tracked request, so a mistake shows up in every
/// environment.
/// </summary>
/// <example>
/// <code>
/// app.MapGet("/orders/{id}", async (int id, HttpContext http, OrderStore store) =>
/// {
///     http.SetMatomoVar("dimension3", "web");
///     http.AddMatomoCustomVariable("tenant", tenantId);
///     using (http.MeasureMatomoPerf("pf_dm1"))
///     {
///         return await store.FindAsync(id);
///     }
/// });
/// </code>
/// </example>
public static class MatomoHttpContextExtensions
{
    /// <summary>
    /// Sets a Matomo Tracking API parameter for this request only, e.g. <c>e_c</c>, <c>dimension3</c>,
    /// <c>action_name</c> or <c>uid</c>; it wins over the action's configured details. A later value for the same name
    /// replaces the earlier one; a null value removes it.
    /// </summary>
    /// <param name="context">The request's context.</param>
    /// <param name="name">The Tracking API parameter name.</param>
    /// <param name="value">The value, or null to remove a value set earlier.</param>
    /// <exception cref="ArgumentException">
    /// The name is not letters, digits, <c>_</c> and <c>-</c> (Matomo would read a '.' or '[' in it as another name), or is one the tracker owns (<c>idsite</c>, <c>rec</c>, <c>apiv</c>, <c>token_auth</c>, <c>cip</c>,
    /// <c>cdt</c>, <c>send_image</c>, <c>rand</c>) or one that would make Matomo drop the hit (<c>cvar</c>, <c>ca</c>),
    /// or the value is one Matomo refuses for that name; thrown on untracked requests too.
    /// </exception>
    public static void SetMatomoVar(this HttpContext context, string name, string? value)
    {
        ArgumentNullException.ThrowIfNull(context);
        (HttpTracking.Current(context) ?? MatomoCall.Untracked).SetVar(name, value);
    }

    /// <summary>
    /// Adds an action-scoped custom variable for this request, sent in <c>cvar</c> after the built-in ones (status,
    /// kind, error, method) in the slots left. A later value for the same name replaces the earlier one.
    /// </summary>
    /// <param name="context">The request's context.</param>
    /// <param name="name">The custom variable's name.</param>
    /// <param name="value">Its value (null records an empty value).</param>
    /// <exception cref="ArgumentException">The name is empty or white space; thrown on untracked requests too.</exception>
    public static void AddMatomoCustomVariable(this HttpContext context, string name, string? value)
    {
        ArgumentNullException.ThrowIfNull(context);
        (HttpTracking.Current(context) ?? MatomoCall.Untracked).AddCustomVariable(name, value);
    }

    /// <summary>
    /// Starts timing a block into the <c>pf_*</c> parameter <paramref name="name"/> of this request, in whole
    /// milliseconds; dispose the result to stop the timer. On an untracked request the timer records nothing.
    /// </summary>
    /// <param name="context">The request's context.</param>
    /// <param name="name">A performance parameter: <c>pf_srv</c> (the default, which replaces the measured duration), <c>pf_net</c>, <c>pf_tfr</c>, <c>pf_dm1</c>, <c>pf_dm2</c> or <c>pf_onl</c>.</param>
    /// <returns>The timer; dispose it to record the elapsed time.</returns>
    /// <exception cref="ArgumentException">The name is not a <c>pf_*</c> parameter; thrown on untracked requests too.</exception>
    public static MatomoPerfTimer MeasureMatomoPerf(this HttpContext context, string name = "pf_srv")
    {
        ArgumentNullException.ThrowIfNull(context);
        return (HttpTracking.Current(context) ?? MatomoCall.Untracked).MeasurePerf(name);
    }

    /// <summary>Skips tracking of this request: no hit is sent for it, however it ends.</summary>
    /// <param name="context">The request's context.</param>
    public static void SkipMatomoTracking(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        HttpTracking.Skip(context);
    }

    /// <summary>Returns this request's Matomo call (what endpoint code may do with its hit), or null when the request is not tracked.</summary>
    /// <param name="context">The request's context.</param>
    /// <returns>The request's call, or null.</returns>
    public static MatomoCall? GetMatomoCall(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return HttpTracking.Current(context);
    }
}
