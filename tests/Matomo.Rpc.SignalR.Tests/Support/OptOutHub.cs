using Matomo.Rpc.SignalR;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>A tracked hub whose app opts every connection out of Matomo when it connects (e.g. a consent it read).</summary>
public sealed class OptOutHub : Hub
{
    private readonly ConnectionLog _connections;

    public OptOutHub(ConnectionLog connections) => _connections = connections;

    public override Task OnConnectedAsync()
    {
        Context.OptOutOfMatomoTracking();
        Context.SetMatomoVar("dimension1", "ignored after the opt-out");
        return base.OnConnectedAsync();
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        _connections.Disconnected(Context.ConnectionId);
        return base.OnDisconnectedAsync(exception);
    }

    public string Echo(string text) => text;
}
