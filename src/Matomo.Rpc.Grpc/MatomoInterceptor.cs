using Grpc.Core;
using Grpc.Core.Interceptors;
using Matomo.Rpc.Grpc.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc;

/// <summary>
/// A gRPC server interceptor that tracks every call (unary, client streaming, server streaming and duplex) as one
/// Matomo hit, sent in the background when the call ends. The action is the method path without its leading '/'
/// (<c>greet.Greeter/SayHello</c>), the outcome is the gRPC status the client gets, and streamed messages are counted
/// in both directions (the single request or response of a unary side included). Tracking never throws into a call
/// and never delays it; the service's exceptions are recorded and rethrown untouched.
/// </summary>
/// <remarks>
/// <para>
/// The outcome is, in this order: <c>DeadlineExceeded</c> when the call's deadline had passed by the time the handler
/// ended, however it ended (the client gave up then), or was less than 250 ms away when the client reset the call
/// (the client gives up at its own, slightly earlier, copy of the deadline); the status of an
/// <see cref="RpcException"/> the handler threw; the <see cref="ServerCallContext.Status"/> service code set, when the
/// handler returned; <c>Cancelled</c> for a call the client cancelled (also when reading its request stream failed
/// because the client reset it, before the call's token was cancelled; not when the read failed on a message the
/// deserializer rejected); <c>Unknown</c> for any other exception; otherwise <c>OK</c>. The exception's type is
/// recorded as the <c>error</c> field.
/// </para>
/// <para>
/// The interceptor holds nothing but the singleton <see cref="MatomoTracker"/>: <c>AddMatomoTracking</c> registers it as a
/// singleton, so grpc-dotnet does not create one per call. It never reads or sets <see cref="ServerCallContext.ResponseTrailers"/>
/// or <see cref="ServerCallContext.WriteOptions"/>, so it also works under gRPC JSON transcoding. When
/// <c>AddMatomoTracking</c> was not called, calls go through untracked and one error says so.
/// </para>
/// <para>
/// grpc-dotnet reads and decodes a unary or server-streaming call's request before it runs the interceptors: a call it
/// fails there (request too large, undecodable, bad encoding) never reaches this interceptor. The HTTP adapter
/// (<c>app.UseMatomoTracking()</c>) tracks those; to keep it from tracking any call seen here, the interceptor leaves
/// the call's scope, or a mark of its decision not to track it, among the request's features.
/// </para>
/// </remarks>
/// <example>
/// <code>
/// builder.Services.AddMatomoTracking(builder.Configuration.GetSection("Matomo"));
/// builder.Services.AddGrpc(o => o.Interceptors.Add&lt;MatomoInterceptor&gt;());
/// // or for one service only:
/// builder.Services.AddGrpc().AddServiceOptions&lt;GreeterService&gt;(o => o.Interceptors.Add&lt;MatomoInterceptor&gt;());
/// </code>
/// </example>
public sealed class MatomoInterceptor : Interceptor
{
    /// <summary>How close to its deadline a call cancelled by the client counts as having exceeded it.</summary>
    internal static readonly TimeSpan DeadlineTolerance = TimeSpan.FromMilliseconds(250);

    /// <summary>grpc-dotnet's call context, whose GetHttpContext() is a field read (null if grpc-dotnet renames it: then the slower path).</summary>
    internal static readonly Type? AspNetCoreCallContext = Type.GetType("Grpc.AspNetCore.Server.Internal.HttpContextServerCallContext, Grpc.AspNetCore.Server", throwOnError: false);

    // Where grpc-dotnet's GetHttpContext() finds the request of a call context that is not its own.
    private const string HttpContextKey = "__HttpContext";

    private readonly MatomoTracker? _tracker;
    private readonly ILogger? _logger;

    /// <summary>Creates the interceptor; grpc-dotnet does it, from the services.</summary>
    /// <param name="tracker">The tracker registered by <c>AddMatomoTracking</c>; without it, calls are not tracked (and one error is logged).</param>
    /// <param name="logger">The logger.</param>
    public MatomoInterceptor(MatomoTracker? tracker = null, ILogger<MatomoInterceptor>? logger = null)
    {
        _tracker = tracker;
        _logger = logger;
        if (tracker is null && logger is not null)
        {
            MissingRegistration.Report(logger);
        }
    }

    /// <inheritdoc />
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request,
        ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var scope = Start(context, MatomoCallKind.Unary);
        if (scope is null)
        {
            return continuation(request, context);
        }

        scope.CountSingleRequest();
        return Track(scope, context, (Continuation: continuation, Request: request, Context: context), static s => s.Continuation(s.Request, s.Context), countResponse: true, requests: null);
    }

    /// <inheritdoc />
    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context,
        ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var scope = Start(context, MatomoCallKind.ClientStreaming);
        if (scope is null)
        {
            return continuation(requestStream, context);
        }

        var requests = new CountingStreamReader<TRequest>(requestStream, scope);
        return Track(scope, context, (Continuation: continuation, Requests: requests, Context: context), static s => s.Continuation(s.Requests, s.Context), countResponse: true, requests);
    }

    /// <inheritdoc />
    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request,
        IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var scope = Start(context, MatomoCallKind.ServerStreaming);
        if (scope is null)
        {
            return continuation(request, responseStream, context);
        }

        scope.CountSingleRequest();
        var responses = new CountingServerStreamWriter<TResponse>(responseStream, scope);
        return Track(scope, context, (Continuation: continuation, Request: request, Responses: responses, Context: context), static s => s.Continuation(s.Request, s.Responses, s.Context), requests: null);
    }

    /// <inheritdoc />
    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var scope = Start(context, MatomoCallKind.DuplexStreaming);
        if (scope is null)
        {
            return continuation(requestStream, responseStream, context);
        }

        var requests = new CountingStreamReader<TRequest>(requestStream, scope);
        var responses = new CountingServerStreamWriter<TResponse>(responseStream, scope);
        return Track(scope, context, (Continuation: continuation, Requests: requests, Responses: responses, Context: context), static s => s.Continuation(s.Requests, s.Responses, s.Context), requests);
    }

    /// <summary>
    /// Runs a handler that returns a response and completes the scope when it ends. A handler that completed
    /// synchronously costs no extra task; a synchronous throw is handled as a faulted task.
    /// </summary>
    private Task<TResponse> Track<TState, TResponse>(MatomoCallScope scope, ServerCallContext context, TState state, Func<TState, Task<TResponse>> handler, bool countResponse, RequestStream? requests)
    {
        Task<TResponse> task;
        try
        {
            task = handler(state);
        }
        catch (Exception ex)
        {
            task = Task.FromException<TResponse>(ex);
        }

        if (task.IsCompletedSuccessfully)
        {
            Succeeded(scope, context, countResponse, requests);
            return task;
        }

        return TrackAsync(scope, context, task, countResponse, requests);
    }

    private async Task<TResponse> TrackAsync<TResponse>(MatomoCallScope scope, ServerCallContext context, Task<TResponse> task, bool countResponse, RequestStream? requests)
    {
        TResponse response;
        try
        {
            response = await task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Finish(scope, context, ex, requests);
            throw;
        }

        Succeeded(scope, context, countResponse, requests);
        return response;
    }

    /// <summary>Runs a streaming handler (no single response) and completes the scope when it ends.</summary>
    private Task Track<TState>(MatomoCallScope scope, ServerCallContext context, TState state, Func<TState, Task> handler, RequestStream? requests)
    {
        Task task;
        try
        {
            task = handler(state);
        }
        catch (Exception ex)
        {
            task = Task.FromException(ex);
        }

        if (task.IsCompletedSuccessfully)
        {
            Succeeded(scope, context, countResponse: false, requests);
            return task;
        }

        return TrackAsync(scope, context, task, requests);
    }

    private async Task TrackAsync(MatomoCallScope scope, ServerCallContext context, Task task, RequestStream? requests)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Finish(scope, context, ex, requests);
            throw;
        }

        Succeeded(scope, context, countResponse: false, requests);
    }

    // The single response of a unary or client-streaming call is counted by its completion (nothing else counts it).
    private void Succeeded(MatomoCallScope scope, ServerCallContext context, bool countResponse, RequestStream? requests) =>
        Finish(scope, context, null, requests, sentBesides: countResponse ? 1 : 0);

    /// <summary>Starts tracking the call, or returns null when it is not tracked (or tracking it failed).</summary>
    private MatomoCallScope? Start(ServerCallContext context, MatomoCallKind kind)
    {
        if (_tracker is null)
        {
            return null;
        }

        MatomoCallScope? scope = null;
        try
        {
            if (context.GetType() == AspNetCoreCallContext)
            {
                // The request is at hand without cost: a caller's opt-out (Sec-GPC / DNT metadata) is decided with the
                // exclusions, before anything is allocated.
                var request = context.GetHttpContext();
                if (IsSeen(request) || request.Features[typeof(MatomoCallScope)] is not null)
                {
                    // An outer MatomoInterceptor (registered globally and per service) decided for this call: its
                    // exclusion, opt-out and sampling are not counted or drawn again.
                    return null;
                }

                scope = _tracker.StartCall(request, context.Method, kind, urlPath: null);
                if (scope is null)
                {
                    // Seen and left untracked on purpose: the HTTP adapter must not track it in the interceptor's stead.
                    MarkSeen(request);
                    return null;
                }

                // The call's scope, kept as the request's feature (see MatomoServerCallContextExtensions.TryAttach): the
                // check above found none, and nothing since could have set one, so it is not looked up a second time.
                request.Features[typeof(MatomoCallScope)] = scope;
                return scope;
            }
            else
            {
                // Other hosts may not have a request (GetHttpContext throws): look for one only for a tracked call; the
                // opt-out then ends the scope (SetCaller), still counted.
                var seen = PeekHttpContext(context);
                if ((seen is not null && IsSeen(seen)) || MatomoServerCallContextExtensions.Find(context) is not null)
                {
                    return null;
                }

                scope = _tracker.StartCall(context.Method, kind);
                if (scope is null)
                {
                    // Excluded or sampled out under a context of its own (JSON transcoding's): the HTTP adapter must not
                    // decide again (a second sampling draw, a second count).
                    if (seen is not null)
                    {
                        MarkSeen(seen);
                    }

                    return null;
                }

                var httpContext = TryGetHttpContext(context);
                scope.SetCaller(httpContext is null ? new MatomoCallerInfo { Host = context.Host } : _tracker.ReadCaller(httpContext));
                if (httpContext is not null)
                {
                    // A host with a request whose scope is not kept among its features (JSON transcoding).
                    MarkSeen(httpContext);
                }
            }

            // A second MatomoInterceptor on the same call (registered globally and per service) leaves it to the first.
            return MatomoServerCallContextExtensions.TryAttach(context, scope) ? scope : null;
        }
#pragma warning disable CA1031 // tracking never throws into the call
        catch (Exception ex)
#pragma warning restore CA1031
        {
            scope?.Call.Skip();
            OnTrackingFailed(context, ex);
            if (TryGetHttpContext(context) is { } request)
            {
                MarkSeen(request);
            }

            return null;
        }
    }

    /// <summary>
    /// Tells the HTTP adapter (<c>UseMatomoTracking</c>) that this call was seen, when it is not tracked here: the request's
    /// feature of type <see cref="MatomoTracker"/> is the tracker (no allocation). A tracked call's mark is its scope, kept
    /// as the request's feature of type <see cref="MatomoCallScope"/> (see <see cref="MatomoServerCallContextExtensions"/>).
    /// The adapter tracks a gRPC method's call that has neither: one grpc-dotnet failed before the interceptors ran.
    /// </summary>
    private void MarkSeen(HttpContext request) => request.Features[typeof(MatomoTracker)] = _tracker;

    /// <summary>True when a MatomoInterceptor already decided not to track this call (<see cref="MarkSeen"/>).</summary>
    private static bool IsSeen(HttpContext request) => request.Features[typeof(MatomoTracker)] is not null;

    private void Finish(MatomoCallScope scope, ServerCallContext context, Exception? exception, RequestStream? requests, int sentBesides = 0)
    {
        try
        {
            scope.Complete(GrpcOutcomes.For(StatusOf(exception, context, requests is { Broken: true })), exception, sentBesides);
        }
#pragma warning disable CA1031 // tracking never throws into the call
        catch (Exception ex)
#pragma warning restore CA1031
        {
            scope.Call.Skip();
            OnTrackingFailed(context, ex);
        }
    }

    /// <summary>
    /// The status the client gets for a call that ended with <paramref name="exception"/> (null: returned normally), in
    /// this order: <c>DeadlineExceeded</c> when the deadline had passed by the end (the client gave up at its copy of it,
    /// and grpc-dotnet answers so once its own passed), or was less than <see cref="DeadlineTolerance"/> away when the
    /// call was cancelled, or when the host set that status and cancelled the call; the status of an
    /// <see cref="RpcException"/>; the status service code set, when the handler returned; <c>Cancelled</c> when the
    /// call was cancelled (its token, or its request stream broken by the client's reset before the token says so);
    /// <c>Unknown</c> for any other exception; <c>OK</c>.
    /// </summary>
    private StatusCode StatusOf(Exception? exception, ServerCallContext context, bool requestStreamBroken)
    {
        // A client's reset fails the request stream at once and cancels the token only later (Kestrel queues that to the
        // thread pool): a handler that ended on the broken stream was cancelled all the same.
        var cancelled = context.CancellationToken.IsCancellationRequested || requestStreamBroken;

        // A client gives up at its own deadline and resets the stream; the server's copy of the deadline is later by the
        // time the request took to arrive, so the reset can come just before the server's deadline.
        if (DeadlinePassed(context, cancelled ? DeadlineTolerance : TimeSpan.Zero))
        {
            return StatusCode.DeadlineExceeded;
        }

        if (exception is RpcException rpc)
        {
            return rpc.StatusCode;
        }

        // Set by service code, or by grpc-dotnet when the deadline fires (before it cancels the call).
        var status = context.Status.StatusCode;
        if (status == StatusCode.DeadlineExceeded && (cancelled || exception is OperationCanceledException))
        {
            return StatusCode.DeadlineExceeded;
        }

        if (exception is null && status != StatusCode.OK)
        {
            return status;
        }

        // When the call was aborted by the client, it saw that, not what the handler did afterwards.
        if (cancelled)
        {
            return StatusCode.Cancelled;
        }

        return exception is null ? StatusCode.OK : StatusCode.Unknown;
    }

    private bool DeadlinePassed(ServerCallContext context, TimeSpan tolerance)
    {
        var deadline = context.Deadline;
        if (deadline == DateTime.MaxValue)
        {
            return false;
        }

        var utc = deadline.Kind == DateTimeKind.Local ? deadline.ToUniversalTime() : deadline;
        return utc - tolerance <= _tracker!.TimeProvider.GetUtcNow().UtcDateTime;
    }

    /// <summary>
    /// The request of a context that is not grpc-dotnet's own, where its <c>GetHttpContext()</c> looks for it (JSON
    /// transcoding keeps it there), without the exception <c>GetHttpContext()</c> throws when there is none: for calls
    /// that are not tracked, which cost no allocation.
    /// </summary>
    private static HttpContext? PeekHttpContext(ServerCallContext context)
    {
        try
        {
            return context.UserState.TryGetValue(HttpContextKey, out var value) ? value as HttpContext : null;
        }
#pragma warning disable CA1031 // a host whose UserState fails: no request to mark
        catch (Exception)
#pragma warning restore CA1031
        {
            return null;
        }
    }

    private static HttpContext? TryGetHttpContext(ServerCallContext context)
    {
        try
        {
            return context.GetHttpContext();
        }
#pragma warning disable CA1031 // a context not hosted by ASP.NET Core (e.g. in unit tests) throws; track without a caller
        catch (Exception)
#pragma warning restore CA1031
        {
            return null;
        }
    }

    private void OnTrackingFailed(ServerCallContext context, Exception exception)
    {
        try
        {
            var logger = _logger ?? TryGetHttpContext(context)?.RequestServices?.GetService<ILogger<MatomoInterceptor>>();
            if (logger is not null)
            {
                Log.TrackingFailed(logger, context.Method, exception);
            }
        }
#pragma warning disable CA1031 // nothing is left to report to
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
