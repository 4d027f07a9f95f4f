using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>
/// Tracks each HTTP request that no other adapter tracks as one Matomo hit. A request that is not tracked costs an
/// endpoint lookup and a method lookup, allocates nothing, and goes on to the next middleware without an async frame.
/// </summary>
internal sealed class MatomoHttpMiddleware
{
    private readonly RequestDelegate _next;
    private readonly HttpTracking _tracking;
    private readonly EndpointCatalog _endpoints;
    private readonly HttpMethodNames _methods;

    public MatomoHttpMiddleware(RequestDelegate next, MatomoTracker tracker, IOptions<MatomoHttpOptions> options, ILogger<MatomoHttpMiddleware> logger)
    {
        _next = next;
        var http = options.Value;
        _tracking = new HttpTracking(tracker, http, logger);
        _endpoints = new EndpointCatalog(http);
        _methods = new HttpMethodNames(http);
    }

    public Task InvokeAsync(HttpContext context)
    {
        var scope = Start(context);
        return scope is null ? _next(context) : InvokeTrackedAsync(context, scope);
    }

    private HttpTracking.Scope? Start(HttpContext context)
    {
        var entry = _endpoints.Get(context.GetEndpoint());
        if (entry.GrpcUnimplementedAction is { } grpc)
        {
            // A gRPC call no interceptor sees: not an HTTP request by method (gRPC calls are all POSTs).
            return HttpTracking.IsTracked(context) ? null : _tracking.StartGrpc(context, grpc);
        }

        if (entry.Skipped || _methods.Recorded(context.Request.Method) is not { } method || HttpTracking.IsTracked(context))
        {
            return null;
        }

        return _tracking.Start(context, entry.Action(method), method);
    }

    private async Task InvokeTrackedAsync(HttpContext context, HttpTracking.Scope scope)
    {
        try
        {
            await _next(context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            scope.PipelineEnded();
            scope.Fail(ex);
            throw;
        }

        scope.PipelineEnded();
    }
}
