using System.Globalization;
using Matomo.Rpc.SignalR.Internal;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.SignalR;

/// <summary>
/// Tracks SignalR hub method invocations, server-to-client streams (when they end), client-to-server streams,
/// connects and disconnects in Matomo. Register it for every hub with
/// <c>services.AddSignalR(o =&gt; o.AddFilter&lt;MatomoHubFilter&gt;())</c>, or for one hub with
/// <c>AddSignalR().AddHubOptions&lt;ChatHub&gt;(o =&gt; o.AddFilter&lt;MatomoHubFilter&gt;())</c>, after
/// <c>services.AddMatomoTracking(...)</c>. It keeps no per-call state, so it may be a singleton or be created per call.
/// Without <c>AddMatomoTracking</c>, hubs run untracked and one error says so.
/// </summary>
/// <remarks>
/// An invocation is tracked as the action <c>{Hub}/{method as clients call it}</c> with the URL of the hub's route
/// followed by the method, e.g. <c>https://example.com/hubs/chat/Send</c>. One connection is one Matomo visitor unless
/// the user is known. Tracking never throws into the hub: the hub's own exceptions reach the client untouched.
/// </remarks>
public sealed class MatomoHubFilter : IHubFilter
{
    private const string ConnectEvent = "connect";
    private const string DisconnectEvent = "disconnect";

    private readonly MatomoTracker? _tracker;
    private readonly ILogger _logger;

    /// <summary>Creates the filter; SignalR does it (from the services, or with <c>ActivatorUtilities</c>).</summary>
    /// <param name="tracker">The tracker registered by <c>AddMatomoTracking</c>; without it, hubs are not tracked (and one error is logged).</param>
    /// <param name="logger">The logger.</param>
    public MatomoHubFilter(MatomoTracker? tracker = null, ILogger<MatomoHubFilter>? logger = null)
    {
        _tracker = tracker;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        if (tracker is null && logger is not null)
        {
            MissingRegistration.Report(logger);
        }
    }

    /// <summary>Tracks one hub method invocation; a streamed result is tracked when the stream ends.</summary>
    /// <param name="invocationContext">The invocation.</param>
    /// <param name="next">The rest of the pipeline, ending with the hub method.</param>
    public ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        ArgumentNullException.ThrowIfNull(invocationContext);
        ArgumentNullException.ThrowIfNull(next);

        InvocationEntry? entry = null;
        MatomoCallScope? scope = null;
        try
        {
            var context = invocationContext.Context;
            if (_tracker is null)
            {
                context.Items.TryAdd(ConnectionState.Key, ConnectionState.NotTracked);
            }
            else
            {
                var state = ConnectionState.Get(context);
                var hubPath = state?.HubPath ?? (context.GetHttpContext() is { } http ? HubPaths.FromRequest(http.Request) : string.Empty);
                entry = InvocationEntry.For(invocationContext.Hub.GetType(), invocationContext.HubMethod, hubPath);

                // The connection's caller, opt-out included, was read once at connect: an opted-out call allocates nothing.
                // Caller and transport are set as the scope starts, without its lock (and so its completion takes none).
                scope = state is null
                    ? _tracker.StartCall(entry.Action, entry.Kind, entry.UrlPath)
                    : _tracker.StartCall(state.Caller, entry.Action, entry.Kind, entry.UrlPath, state.Transport);
                if (scope is not null && state is null)
                {
                    state = ConnectionState.Create(_tracker, context);
                    scope.SetCaller(state.Caller);
                    scope.Transport = state.Transport;
                }
            }
        }
#pragma warning disable CA1031 // tracking never throws into the hub
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TrackingFailed(_logger, "invocation", entry?.HubName ?? invocationContext.Hub?.GetType().Name ?? string.Empty, ex);
            scope = null;
        }

        // Outside the try: an exception of the pipeline must reach the client untouched, and the hub run only once.
        return scope is null || entry is null ? next(invocationContext) : TrackInvocationAsync(invocationContext, next, scope, entry);
    }

    /// <summary>Tracks the connection's opening as a Matomo event (category: the hub, action: <c>connect</c>, name: the transport).</summary>
    /// <param name="context">The connection's context.</param>
    /// <param name="next">The rest of the pipeline, ending with the hub's <c>OnConnectedAsync</c>.</param>
    public Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);

        var scope = StartLifetimeEvent(context, MatomoCallKind.HubConnect);
        return scope is null ? next(context) : TrackLifetimeEventAsync(context, scope, closedWith: null, () => next(context));
    }

    /// <summary>
    /// Tracks the connection's closing as a Matomo event (category: the hub, action: <c>disconnect</c>, name: the
    /// transport, value: the connection's duration in whole seconds; the exception's type when it closed with one).
    /// </summary>
    /// <param name="context">The connection's context.</param>
    /// <param name="exception">The exception the connection closed with, if any.</param>
    /// <param name="next">The rest of the pipeline, ending with the hub's <c>OnDisconnectedAsync</c>.</param>
    public Task OnDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);

        var scope = StartLifetimeEvent(context, MatomoCallKind.HubDisconnect);
        return scope is null ? next(context, exception) : TrackLifetimeEventAsync(context, scope, exception, () => next(context, exception));
    }

    private async ValueTask<object?> TrackInvocationAsync(
        HubInvocationContext invocationContext,
        Func<HubInvocationContext, ValueTask<object?>> next,
        MatomoCallScope scope,
        InvocationEntry entry)
    {
        // Set inside this async method, so it flows into the hub method and is gone for the caller when it returns.
        var invocation = new InvocationScope(invocationContext.Context, scope);
        InvocationScope.Current = invocation;
        if (entry.Shape.Arguments.Length > 0)
        {
            WrapArguments(invocationContext, entry, invocation);
        }

        object? result;
        try
        {
            result = await next(invocationContext).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            StreamOutcome.Fail(scope, ex, IsCancellationRequested(invocationContext));
            throw;
        }

        if (entry.Shape.Result is { } wrap && result is not null)
        {
            try
            {
                if (wrap(result, invocation) is { } wrapped)
                {
                    return wrapped;
                }
            }
#pragma warning disable CA1031 // tracking never throws into the hub
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.TrackingFailed(_logger, "stream", entry.HubName, ex);
            }
        }

        scope.Complete(result is null && entry.Shape.Result is not null ? MatomoOutcome.Error : MatomoOutcome.Ok);
        return result;
    }

    /// <summary>
    /// Client-to-server streams: SignalR hands the argument array it invokes the method with to the filters, so a
    /// counting wrapper put in it is what the method reads.
    /// </summary>
    private void WrapArguments(HubInvocationContext invocationContext, InvocationEntry entry, InvocationScope invocation)
    {
        if (invocationContext.HubMethodArguments is not object?[] arguments)
        {
            return;
        }

        try
        {
            foreach (var (index, wrap) in entry.Shape.Arguments)
            {
                if (index < arguments.Length && arguments[index] is { } argument && wrap(argument, invocation) is { } wrapped)
                {
                    arguments[index] = wrapped;
                }
            }
        }
#pragma warning disable CA1031 // tracking never throws into the hub
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TrackingFailed(_logger, "stream", entry.HubName, ex);
        }
    }

    /// <summary>
    /// Starts the connect or disconnect event of a connection, or returns null when it is not tracked. The connection's
    /// state is stored on connect even when connects are not tracked: invocations and the disconnect use it.
    /// </summary>
    private MatomoCallScope? StartLifetimeEvent(HubLifetimeContext context, MatomoCallKind kind)
    {
        var connect = kind == MatomoCallKind.HubConnect;
        try
        {
            var items = context.Context.Items;
            if (_tracker is null)
            {
                items[ConnectionState.Key] = ConnectionState.NotTracked;
                return null;
            }

            var state = connect ? null : ConnectionState.Get(context.Context);
            var connectedBefore = state is not null;
            state ??= ConnectionState.Create(_tracker, context.Context);
            if (connect)
            {
                items[ConnectionState.Key] = state;
            }

            var hub = HubNames.Get(context.Hub.GetType());
            var scope = _tracker.StartCall(state.Caller, connect ? hub.ConnectAction : hub.DisconnectAction, kind, state.HubPath.Length == 0 ? "/" : state.HubPath, state.Transport);
            if (scope is null)
            {
                return null;
            }

            var call = scope.Call;
            call.SetVar("e_c", hub.Name);
            call.SetVar("e_a", connect ? ConnectEvent : DisconnectEvent);
            call.SetVar("e_n", state.Transport);
            if (!connect && connectedBefore)
            {
                var seconds = (long)_tracker.TimeProvider.GetElapsedTime(state.ConnectedAt).TotalSeconds;
                call.SetVar("e_v", seconds.ToString(CultureInfo.InvariantCulture));
            }

            return scope;
        }
#pragma warning disable CA1031 // tracking never throws into the hub
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TrackingFailed(_logger, connect ? ConnectEvent : DisconnectEvent, context.Hub?.GetType().Name ?? string.Empty, ex);
            return null;
        }
    }

    /// <summary>Runs the hub's OnConnectedAsync or OnDisconnectedAsync with the event's per-call API, then completes the event.</summary>
    private static async Task TrackLifetimeEventAsync(HubLifetimeContext context, MatomoCallScope scope, Exception? closedWith, Func<Task> next)
    {
        InvocationScope.Current = new InvocationScope(context.Context, scope);
        try
        {
            await next().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // A connect fails as cancelled when the connection went away meanwhile; a disconnect has always gone away.
            StreamOutcome.Fail(scope, ex, cancellationRequested: scope.Kind == MatomoCallKind.HubConnect && context.Context.ConnectionAborted.IsCancellationRequested);
            throw;
        }

        scope.Complete(closedWith is null ? MatomoOutcome.Ok : MatomoOutcome.Error, closedWith);
    }

    private static bool IsCancellationRequested(HubInvocationContext invocationContext)
    {
        if (invocationContext.Context.ConnectionAborted.IsCancellationRequested)
        {
            return true;
        }

        // A streaming method's CancellationToken parameter is cancelled when the client cancels the stream.
        foreach (var argument in invocationContext.HubMethodArguments)
        {
            if (argument is CancellationToken { IsCancellationRequested: true })
            {
                return true;
            }
        }

        return false;
    }
}
