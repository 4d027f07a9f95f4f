using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>
/// What the filter keeps per connection, in <see cref="HubCallerContext.Items"/> under a private key: when it
/// connected, who the caller is, the transport and the hub's route. Its presence also tells the per-invocation API
/// that the filter runs for this connection.
/// </summary>
internal sealed class ConnectionState
{
    /// <summary>The private key of the state in <see cref="HubCallerContext.Items"/>.</summary>
    public static readonly object Key = new();

    /// <summary>Stored under <see cref="Key"/> when the filter runs without a tracker: the per-invocation API then does nothing.</summary>
    public static readonly object NotTracked = new();

    private readonly MatomoCallerInfo _caller;
    private volatile bool _optedOut;

    private ConnectionState(long connectedAt, MatomoCallerInfo caller, string? transport, string hubPath)
    {
        ConnectedAt = connectedAt;
        _caller = caller;
        Transport = transport;
        HubPath = hubPath;
    }

    /// <summary>The connect timestamp, on the tracker's <see cref="TimeProvider"/>.</summary>
    public long ConnectedAt { get; }

    /// <summary>
    /// The caller of the connection's request (negotiate or transport request, whose headers carry the opt-out), with
    /// the connection id as the visitor key; opted out also when the app marked the connection so.
    /// </summary>
    public MatomoCallerInfo Caller => _optedOut ? _caller with { OptedOut = true } : _caller;

    /// <summary>WebSockets, ServerSentEvents or LongPolling; null when unknown.</summary>
    public string? Transport { get; }

    /// <summary>The hub's route, e.g. <c>/hubs/chat</c>.</summary>
    public string HubPath { get; }

    /// <summary>Every later call of the connection is opted out (the app's decision, e.g. in OnConnectedAsync).</summary>
    public void OptOut() => _optedOut = true;

    public static ConnectionState? Get(HubCallerContext context) =>
        context.Items.TryGetValue(Key, out var value) ? value as ConnectionState : null;

    public static ConnectionState Create(MatomoTracker tracker, HubCallerContext context)
    {
        var httpContext = context.GetHttpContext();
        var caller = httpContext is null ? default : tracker.ReadCaller(httpContext, context.UserIdentifier);

        // One connection is one visitor, unless the visitor header (or the user id, which the encoder prefers) says who it is.
        caller = caller with { VisitorKey = caller.VisitorKey ?? context.ConnectionId };
        var hubPath = httpContext is null ? string.Empty : HubPaths.FromRequest(httpContext.Request);
        var transport = TransportName(context.Features.Get<IHttpTransportFeature>()?.TransportType);
        return new ConnectionState(tracker.TimeProvider.GetTimestamp(), caller, transport, hubPath);
    }

    private static string? TransportName(HttpTransportType? transport) => transport switch
    {
        HttpTransportType.WebSockets => "WebSockets",
        HttpTransportType.ServerSentEvents => "ServerSentEvents",
        HttpTransportType.LongPolling => "LongPolling",
        null or HttpTransportType.None => null,
        _ => transport.ToString(),
    };
}
