using System.Security.Claims;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>A connection's context without a transport, for driving the filter directly.</summary>
public sealed class FakeHubCallerContext : HubCallerContext
{
    private readonly CancellationTokenSource _aborted = new();

    public FakeHubCallerContext(string connectionId = "connection-1")
    {
        ConnectionId = connectionId;
    }

    public override string ConnectionId { get; }

    public override string? UserIdentifier => null;

    public override ClaimsPrincipal? User => null;

    public override IDictionary<object, object?> Items { get; } = new Dictionary<object, object?>();

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override CancellationToken ConnectionAborted => _aborted.Token;

    public override void Abort() => _aborted.Cancel();
}
