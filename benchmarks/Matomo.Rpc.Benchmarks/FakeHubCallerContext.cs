using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.Benchmarks;

/// <summary>A connection as SignalR's HubCallerContext shows it: the HttpContext and the transport as features.</summary>
internal sealed class FakeHubCallerContext : HubCallerContext, IHttpContextFeature, IHttpTransportFeature
{
    private readonly FeatureCollection _features = new();

    public FakeHubCallerContext(HttpContext httpContext)
    {
        HttpContext = httpContext;
        _features.Set<IHttpContextFeature>(this);
        _features.Set<IHttpTransportFeature>(this);
    }

    public HttpContext? HttpContext { get; set; }

    public HttpTransportType TransportType => HttpTransportType.WebSockets;

    public override string ConnectionId => "bH8Q1pX3dVyZ0s2fK9wRjA";

    public override string? UserIdentifier => null;

    public override ClaimsPrincipal? User => null;

    public override IDictionary<object, object?> Items { get; } = new Dictionary<object, object?>();

    public override IFeatureCollection Features => _features;

    public override CancellationToken ConnectionAborted => CancellationToken.None;

    public override void Abort()
    {
    }
}
