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

    public MatomoHttpMiddleware(RequestDelegate next, MatomoTracker tracker, IOptions<MatomoHttpOptions> options, ILogger<MatomoHttpMiddleware> logger, IServiceProvider? services = null)
    {
        _next = next;
        var http = options.Value;
        _tracking = new HttpTracking(tracker, http, logger);
        _endpoints = new EndpointCatalog(http, services);
        _methods = new HttpMethodNames(http);
    }

    public Task InvokeAsync(HttpContext context)
    {
        var entry = _endpoints.Get(context.GetEndpoint());
        if (entry.GrpcMethodAction is not null)
        {
            return InvokeGrpcMethod(context, entry);
        }

        var scope = Start(context, entry);
        return scope is null ? _next(context) : InvokeTrackedAsync(context, scope);
    }

    private HttpTracking.Scope? Start(HttpContext context, EndpointEntry entry)
    {
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

    /// <summary>
    /// A gRPC method's call, which the interceptor tracks once it runs; grpc-dotnet reads and decodes a unary or
    /// server-streaming call's request before that, and answers a failure there (too large, undecodable, bad encoding or
    /// content type) itself. Once the pipeline has ended, a call the interceptor left no trace on is tracked here. The
    /// normal path costs a clock read and a feature lookup or two; an async frame only when the interceptor had not
    /// started by the time the pipeline first yielded (a request body still arriving).
    /// </summary>
    private Task InvokeGrpcMethod(HttpContext context, EndpointEntry entry)
    {
        var start = _tracking.Timestamp();
        Task task;
        try
        {
            task = _next(context);
        }
        catch (Exception ex)
        {
            task = Task.FromException(ex);
        }

        if (task.IsCompletedSuccessfully)
        {
            _tracking.TrackUnseenGrpcCall(context, entry, start, exception: null);
            return task;
        }

        // The interceptor starts before the handler's first await: once it has marked the call, there is nothing left
        // to wait for, and the call costs no async frame here (176 B). Not marked yet: the request is still being read.
        if (HttpTracking.IsSeenByGrpcAdapterWhileRunning(context))
        {
            return task;
        }

        return InvokeGrpcMethodAsync(context, entry, start, task);
    }

    private async Task InvokeGrpcMethodAsync(HttpContext context, EndpointEntry entry, long start, Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _tracking.TrackUnseenGrpcCall(context, entry, start, ex);
            throw;
        }

        _tracking.TrackUnseenGrpcCall(context, entry, start, exception: null);
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
