using Matomo.Rpc.SignalR.Internal;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR;

/// <summary>
/// The Matomo per-invocation API inside hub methods: <c>Context.SetMatomoVar("dimension3", "gold")</c>. Values belong
/// to the invocation running on the current async flow, never to the connection: two concurrent invocations on one
/// connection each have their own. In the hub's <c>OnConnectedAsync</c> / <c>OnDisconnectedAsync</c> they apply to the
/// connect / disconnect event; inside a streaming method's iterator, to the stream's hit.
/// </summary>
/// <remarks>
/// Inside an invocation that is not tracked (excluded action or call kind, ignored user agent, or
/// <c>AddMatomoTracking</c> not called) the methods do nothing, but refuse the same invalid names as on a tracked one.
/// When <see cref="MatomoHubFilter"/> does not run for the hub, or the context is not the one of the current
/// invocation's connection, they throw <see cref="InvalidOperationException"/>. After its invocation ended (e.g. in
/// work it left running), changes to a call are ignored.
/// </remarks>
public static class MatomoHubCallerContextExtensions
{
    /// <summary>Sets a Matomo Tracking API parameter for this invocation, e.g. <c>dimension3</c> or <c>e_c</c>; null removes it.</summary>
    /// <param name="context">The hub's <see cref="Hub.Context"/>.</param>
    /// <param name="name">The parameter's name.</param>
    /// <param name="value">The parameter's value.</param>
    /// <exception cref="InvalidOperationException">No tracked invocation of this connection runs here.</exception>
    /// <exception cref="ArgumentException">The tracker owns the parameter or Matomo refuses the value (see <see cref="MatomoCall.SetVar"/>).</exception>
    public static void SetMatomoVar(this HubCallerContext context, string name, string? value) =>
        (CurrentCall(context) ?? MatomoCall.Untracked).SetVar(name, value);

    /// <summary>Adds an action-scoped custom variable for this invocation.</summary>
    /// <param name="context">The hub's <see cref="Hub.Context"/>.</param>
    /// <param name="name">The variable's name.</param>
    /// <param name="value">The variable's value.</param>
    /// <exception cref="InvalidOperationException">No tracked invocation of this connection runs here.</exception>
    public static void AddMatomoCustomVariable(this HubCallerContext context, string name, string? value) =>
        (CurrentCall(context) ?? MatomoCall.Untracked).AddCustomVariable(name, value);

    /// <summary>Times a block of this invocation into a <c>pf_*</c> parameter in whole milliseconds; dispose the result to stop.</summary>
    /// <param name="context">The hub's <see cref="Hub.Context"/>.</param>
    /// <param name="name">The parameter, <c>pf_srv</c> by default.</param>
    /// <exception cref="InvalidOperationException">No tracked invocation of this connection runs here.</exception>
    public static MatomoPerfTimer MeasureMatomoPerf(this HubCallerContext context, string name = "pf_srv") =>
        (CurrentCall(context) ?? MatomoCall.Untracked).MeasurePerf(name);

    /// <summary>Sends no hit for this invocation.</summary>
    /// <param name="context">The hub's <see cref="Hub.Context"/>.</param>
    /// <exception cref="InvalidOperationException">No tracked invocation of this connection runs here.</exception>
    public static void SkipMatomoTracking(this HubCallerContext context) => CurrentCall(context)?.Skip();

    /// <summary>What hub code may do with this invocation in Matomo, or null when the invocation is not tracked.</summary>
    /// <param name="context">The hub's <see cref="Hub.Context"/>.</param>
    /// <exception cref="InvalidOperationException">No tracked invocation of this connection runs here.</exception>
    public static MatomoCall? GetMatomoCall(this HubCallerContext context) => CurrentCall(context);

    /// <summary>
    /// Opts the connection's caller out of tracking, as <c>Sec-GPC: 1</c> or <c>DNT: 1</c> on its request would: the
    /// current call (e.g. the connect event, when called from <c>OnConnectedAsync</c>) and every later invocation and the
    /// disconnect send no hit, and each is counted in <see cref="MatomoStatistics.OptedOut"/>.
    /// </summary>
    /// <param name="context">The hub's <see cref="Hub.Context"/>.</param>
    /// <exception cref="InvalidOperationException"><see cref="MatomoHubFilter"/> does not run for this connection.</exception>
    public static void OptOutOfMatomoTracking(this HubCallerContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var current = InvocationScope.Current is { } invocation && invocation.BelongsTo(context) ? invocation.Scope : null;
        if (context.Items.TryGetValue(ConnectionState.Key, out var value))
        {
            (value as ConnectionState)?.OptOut();
        }
        else if (current is null)
        {
            _ = CurrentCall(context);
        }

        current?.OptOut();
    }

    private static MatomoCall? CurrentCall(HubCallerContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (InvocationScope.Current is { } scope)
        {
            return scope.BelongsTo(context)
                ? scope.Scope.Call
                : throw new InvalidOperationException(
                    "The HubCallerContext passed to a Matomo extension is not the one of the connection whose invocation runs here: use the hub's own Context.");
        }

        // The filter marks every connection it sees on connect: an untracked invocation costs nothing to recognise.
        if (context.Items.ContainsKey(ConnectionState.Key))
        {
            return null;
        }

        throw new InvalidOperationException(
            "There is no Matomo-tracked SignalR invocation for this connection here. Register the filter with " +
            "services.AddSignalR(o => o.AddFilter<MatomoHubFilter>()) (or AddHubOptions<THub> for one hub) and use the " +
            "Matomo extensions of Context inside a hub method, OnConnectedAsync or OnDisconnectedAsync.");
    }
}
