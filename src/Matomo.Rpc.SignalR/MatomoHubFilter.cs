using System.Globalization;
using Matomo.Rpc.SignalR.Internal;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.SignalR;

/// <summary>
/// Tracks SignalR hub method invocations, server-to-client streams (when they end), client-to-server streams,
/// connects and disconnects in Matomo. Register it for every hub with
/// <c>services.AddSignalR(o =&gt; o.AddFilter&lt;MatomoHubFilter&gt;())</c>, or for one hub with
/// <c>AddSignalR().AddHubOptions&lt;ChatHub&gt;(o =&gt; o.AddFilter&lt;MatomoHubFilter&gt;())</c>, after
/// <c>services.AddMatomoTracking(...)</c>. It keeps no per-call state, so it may be a singleton or be created per call.
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

    private readonly MatomoTracker _tracker;
    private readonly ILogger _logger;

    /// <summary>Creates the filter; SignalR does it (from the services, or with <c>ActivatorUtilities</c>).</summary>
    /// <param name="tracker">The tracker registered by <c>AddMatomoTracking</c>.</param>
    /// <param name="logger">The logger.</param>
    public MatomoHubFilter(MatomoTracker tracker, ILogger<MatomoHubFilter> logger)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        ArgumentNullException.ThrowIfNull(logger);
        _tracker = tracker;
        _logger = logger;
    }

    /// <summary>Tracks one hub method invocation; a streamed result is tracked when the stream ends.</summary>
    /// <param name="invocationContext">The invocation.</param>
    /// <param name="next">The rest of the pipeline, ending with the hub method.</param>
    public ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        ArgumentNullException.ThrowIfNull(invocationContext);
        ArgumentNullException.ThrowIfNull(next);

        InvocationEntry? entry = null;
        MatomoCall? call = null;
        try
        {
            var context = invocationContext.Context;
            var state = ConnectionState.Get(context);
            var hubPath = state?.HubPath ?? (context.GetHttpContext() is { } http ? HubPaths.FromRequest(http.Request) : string.Empty);
            entry = InvocationEntry.For(invocationContext.Hub.GetType(), invocationContext.HubMethod, hubPath);
            call = _tracker.StartCall(entry.Action, entry.Kind, entry.UrlPath);
            if (call is not null)
            {
                state ??= ConnectionState.Create(_tracker, context);
                call.SetCaller(state.Caller);
                call.Transport = state.Transport;
            }
        }
#pragma warning disable CA1031 // tracking never throws into the hub
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TrackingFailed(_logger, "invocation", entry?.HubName ?? invocationContext.Hub?.GetType().Name ?? string.Empty, ex);
            call = null;
        }

        // Outside the try: an exception of the pipeline must reach the client untouched, and the hub run only once.
        return call is null || entry is null ? next(invocationContext) : TrackInvocationAsync(invocationContext, next, call, entry);
    }

    /// <summary>Tracks the connection's opening as a Matomo event (category: the hub, action: <c>connect</c>, name: the transport).</summary>
    /// <param name="context">The connection's context.</param>
    /// <param name="next">The rest of the pipeline, ending with the hub's <c>OnConnectedAsync</c>.</param>
    public Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);

        MatomoCall? call = null;
        try
        {
            // Stored even when connects are not tracked: invocations and the disconnect use it.
            var state = ConnectionState.Create(_tracker, context.Context);
            context.Context.Items[ConnectionState.Key] = state;
            call = StartEvent(context, state, HubNames.Get(context.Hub.GetType()), MatomoCallKind.HubConnect);
        }
#pragma warning disable CA1031 // tracking never throws into the hub
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TrackingFailed(_logger, ConnectEvent, context.Hub?.GetType().Name ?? string.Empty, ex);
        }

        return call is null ? next(context) : TrackConnectedAsync(context, next, call);
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

        MatomoCall? call = null;
        try
        {
            var state = ConnectionState.Get(context.Context);
            call = StartEvent(context, state ?? ConnectionState.Create(_tracker, context.Context), HubNames.Get(context.Hub.GetType()), MatomoCallKind.HubDisconnect);
            if (call is not null)
            {
                if (state is not null)
                {
                    var seconds = (long)_tracker.TimeProvider.GetElapsedTime(state.ConnectedAt).TotalSeconds;
                    call.SetVar("e_v", seconds.ToString(CultureInfo.InvariantCulture));
                }

                if (exception is not null)
                {
                    call.SetException(exception);
                    call.SetOutcome(MatomoOutcome.Error);
                }
            }
        }
#pragma warning disable CA1031 // tracking never throws into the hub
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TrackingFailed(_logger, DisconnectEvent, context.Hub?.GetType().Name ?? string.Empty, ex);
            call = null;
        }

        return call is null ? next(context, exception) : TrackDisconnectedAsync(context, exception, next, call);
    }

    private async ValueTask<object?> TrackInvocationAsync(
        HubInvocationContext invocationContext,
        Func<HubInvocationContext, ValueTask<object?>> next,
        MatomoCall call,
        InvocationEntry entry)
    {
        // Set inside this async method, so it flows into the hub method and is gone for the caller when it returns.
        var scope = new InvocationScope(invocationContext.Context, call);
        InvocationScope.Current = scope;
        if (entry.Shape.Arguments.Length > 0)
        {
            WrapArguments(invocationContext, entry, scope);
        }

        object? result;
        try
        {
            result = await next(invocationContext).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            StreamOutcome.Fail(call, ex, IsCancellationRequested(invocationContext));
            throw;
        }

        if (entry.Shape.Result is { } wrap && result is not null)
        {
            try
            {
                if (wrap(result, scope) is { } wrapped)
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

        call.Complete(result is null && entry.Shape.Result is not null ? MatomoOutcome.Error : MatomoOutcome.Ok);
        return result;
    }

    /// <summary>
    /// Client-to-server streams: SignalR hands the argument array it invokes the method with to the filters, so a
    /// counting wrapper put in it is what the method reads.
    /// </summary>
    private void WrapArguments(HubInvocationContext invocationContext, InvocationEntry entry, InvocationScope scope)
    {
        if (invocationContext.HubMethodArguments is not object?[] arguments)
        {
            return;
        }

        try
        {
            foreach (var (index, wrap) in entry.Shape.Arguments)
            {
                if (index < arguments.Length && arguments[index] is { } argument && wrap(argument, scope) is { } wrapped)
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

    private MatomoCall? StartEvent(HubLifetimeContext context, ConnectionState state, HubNames hub, MatomoCallKind kind)
    {
        var connect = kind == MatomoCallKind.HubConnect;
        var call = _tracker.StartCall(connect ? hub.ConnectAction : hub.DisconnectAction, kind, state.HubPath.Length == 0 ? "/" : state.HubPath);
        if (call is null)
        {
            return null;
        }

        call.SetCaller(state.Caller);
        call.Transport = state.Transport;
        call.SetVar("e_c", hub.Name);
        call.SetVar("e_a", connect ? ConnectEvent : DisconnectEvent);
        call.SetVar("e_n", state.Transport);
        return call;
    }

    private static async Task TrackConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next, MatomoCall call)
    {
        // The hub's OnConnectedAsync may set variables of the connect event through the per-invocation API.
        InvocationScope.Current = new InvocationScope(context.Context, call);
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            StreamOutcome.Fail(call, ex, context.Context.ConnectionAborted.IsCancellationRequested);
            throw;
        }

        call.Complete();
    }

    private static async Task TrackDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next, MatomoCall call)
    {
        InvocationScope.Current = new InvocationScope(context.Context, call);
        try
        {
            await next(context, exception).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            StreamOutcome.Fail(call, ex, cancellationRequested: false);
            throw;
        }

        call.Complete();
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
