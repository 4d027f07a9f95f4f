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
/// The outcome is, in this order: the status of an <see cref="RpcException"/> the handler threw; the
/// <see cref="ServerCallContext.Status"/> service code set, when the handler returned; for a call that was cancelled,
/// <c>DeadlineExceeded</c> when its deadline had passed (or was less than 250 ms away when the client reset the call,
/// since the client gives up at its own, slightly earlier, copy of the deadline), else <c>Cancelled</c>; <c>Unknown</c>
/// for any other exception; otherwise <c>OK</c>. The exception's type is recorded as the <c>error</c> field.
/// </para>
/// <para>
/// The interceptor holds nothing but the singleton <see cref="MatomoTracker"/>: it may be registered in DI or left to
/// grpc-dotnet, which then creates it per call. It never reads or sets <see cref="ServerCallContext.ResponseTrailers"/>
/// or <see cref="ServerCallContext.WriteOptions"/>, so it also works under gRPC JSON transcoding.
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

    private readonly MatomoTracker _tracker;

    /// <summary>Creates the interceptor.</summary>
    /// <param name="tracker">The tracker registered by <c>AddMatomoTracking</c>.</param>
    public MatomoInterceptor(MatomoTracker tracker)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        _tracker = tracker;
    }

    /// <inheritdoc />
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request,
        ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var call = Start(context, MatomoCallKind.Unary);
        return call is null ? continuation(request, context) : TrackUnaryAsync(request, context, continuation, call);
    }

    /// <inheritdoc />
    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context,
        ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var call = Start(context, MatomoCallKind.ClientStreaming);
        return call is null ? continuation(requestStream, context) : TrackClientStreamingAsync(requestStream, context, continuation, call);
    }

    /// <inheritdoc />
    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request,
        IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var call = Start(context, MatomoCallKind.ServerStreaming);
        return call is null ? continuation(request, responseStream, context) : TrackServerStreamingAsync(request, responseStream, context, continuation, call);
    }

    /// <inheritdoc />
    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var call = Start(context, MatomoCallKind.DuplexStreaming);
        return call is null ? continuation(requestStream, responseStream, context) : TrackDuplexStreamingAsync(requestStream, responseStream, context, continuation, call);
    }

    private async Task<TResponse> TrackUnaryAsync<TRequest, TResponse>(
        TRequest request,
        ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation,
        MatomoCall call)
        where TRequest : class
        where TResponse : class
    {
        call.CountReceived();
        TResponse response;
        try
        {
            response = await continuation(request, context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Finish(call, context, ex);
            throw;
        }

        call.CountSent();
        Finish(call, context, null);
        return response;
    }

    private async Task<TResponse> TrackClientStreamingAsync<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context,
        ClientStreamingServerMethod<TRequest, TResponse> continuation,
        MatomoCall call)
        where TRequest : class
        where TResponse : class
    {
        TResponse response;
        try
        {
            response = await continuation(new CountingStreamReader<TRequest>(requestStream, call), context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Finish(call, context, ex);
            throw;
        }

        call.CountSent();
        Finish(call, context, null);
        return response;
    }

    private async Task TrackServerStreamingAsync<TRequest, TResponse>(
        TRequest request,
        IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation,
        MatomoCall call)
        where TRequest : class
        where TResponse : class
    {
        call.CountReceived();
        try
        {
            await continuation(request, new CountingServerStreamWriter<TResponse>(responseStream, call), context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Finish(call, context, ex);
            throw;
        }

        Finish(call, context, null);
    }

    private async Task TrackDuplexStreamingAsync<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation,
        MatomoCall call)
        where TRequest : class
        where TResponse : class
    {
        try
        {
            await continuation(
                new CountingStreamReader<TRequest>(requestStream, call),
                new CountingServerStreamWriter<TResponse>(responseStream, call),
                context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Finish(call, context, ex);
            throw;
        }

        Finish(call, context, null);
    }

    /// <summary>Starts tracking the call, or returns null when it is not tracked (or tracking it failed).</summary>
    private MatomoCall? Start(ServerCallContext context, MatomoCallKind kind)
    {
        MatomoCall? call = null;
        try
        {
            call = _tracker.StartCall(context.Method, kind);
            if (call is null)
            {
                return null;
            }

            var httpContext = TryGetHttpContext(context);
            call.SetCaller(httpContext is null ? new MatomoCallerInfo { Host = context.Host } : _tracker.ReadCaller(httpContext));

            // A second MatomoInterceptor on the same call (registered globally and per service) leaves it to the first.
            return MatomoServerCallContextExtensions.TryAttach(context, call) ? call : null;
        }
#pragma warning disable CA1031 // tracking never throws into the call
        catch (Exception ex)
#pragma warning restore CA1031
        {
            call?.Skip();
            OnTrackingFailed(context, ex);
            return null;
        }
    }

    private void Finish(MatomoCall call, ServerCallContext context, Exception? exception)
    {
        try
        {
            if (exception is not null)
            {
                call.SetException(exception);
            }

            call.Complete(GrpcOutcomes.For(StatusOf(exception, context)));
        }
#pragma warning disable CA1031 // tracking never throws into the call
        catch (Exception ex)
#pragma warning restore CA1031
        {
            call.Skip();
            OnTrackingFailed(context, ex);
        }
    }

    /// <summary>The status the client gets for a call that ended with <paramref name="exception"/> (null: returned normally).</summary>
    private StatusCode StatusOf(Exception? exception, ServerCallContext context)
    {
        if (exception is RpcException rpc)
        {
            return rpc.StatusCode;
        }

        // Set by service code, or by grpc-dotnet when the deadline fires (before it cancels the call).
        var status = context.Status.StatusCode;
        if (exception is null && status != StatusCode.OK)
        {
            return status;
        }

        // When the call was aborted (deadline or client), the client saw that, not what the handler did afterwards.
        var cancelled = context.CancellationToken.IsCancellationRequested;
        if (cancelled || exception is OperationCanceledException)
        {
            // A client gives up at its own deadline and resets the stream; the server's copy of the deadline is later by
            // the time the request took to arrive, so the reset can come just before the server's deadline.
            if (status == StatusCode.DeadlineExceeded || DeadlinePassed(context, cancelled ? DeadlineTolerance : TimeSpan.Zero))
            {
                return StatusCode.DeadlineExceeded;
            }

            if (cancelled)
            {
                return StatusCode.Cancelled;
            }
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
        return utc - tolerance <= _tracker.TimeProvider.GetUtcNow().UtcDateTime;
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

    private static void OnTrackingFailed(ServerCallContext context, Exception exception)
    {
        try
        {
            var logger = TryGetHttpContext(context)?.RequestServices?.GetService<ILogger<MatomoInterceptor>>();
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
