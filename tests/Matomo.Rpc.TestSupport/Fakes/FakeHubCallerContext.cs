using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.TestSupport.Fakes;

/// <summary>
/// A connection as SignalR's HubCallerContext shows it, for driving the hub filter directly; shared by the SignalR tests
/// and the benchmarks (linked into each, see Matomo.Rpc.TestSupport.csproj). Without an HttpContext it has no
/// transport; with one, the HttpContext and a WebSockets transport are its features.
/// </summary>
internal sealed class FakeHubCallerContext : HubCallerContext, IHttpContextFeature, IHttpTransportFeature
{
    private readonly CancellationTokenSource _aborted = new();

    public FakeHubCallerContext(string connectionId = "connection-1", HttpContext? httpContext = null)
    {
        ConnectionId = connectionId;
        HttpContext = httpContext;
        if (httpContext is not null)
        {
            Features.Set<IHttpContextFeature>(this);
            Features.Set<IHttpTransportFeature>(this);
        }
    }

    public HttpContext? HttpContext { get; set; }

    public HttpTransportType TransportType => HttpTransportType.WebSockets;

    public override string ConnectionId { get; }

    public override string? UserIdentifier => null;

    public override ClaimsPrincipal? User => null;

    public override IDictionary<object, object?> Items { get; } = new Dictionary<object, object?>();

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override CancellationToken ConnectionAborted => _aborted.Token;

    public override void Abort() => _aborted.Cancel();
}
