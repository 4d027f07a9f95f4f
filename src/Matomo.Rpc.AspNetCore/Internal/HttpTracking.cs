using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>
/// The only place where the HTTP adapter drives the core's <see cref="MatomoCallScope"/>: starts a request's call
/// (caller, URL path, method), and completes it once with the status the client got and the exception, if any.
/// Everything else in the adapter (which endpoints, which methods, action names) knows nothing of the scope.
/// </summary>
/// <remarks>
/// The hit is completed from <see cref="HttpResponse.OnCompleted(Func{object, Task}, object)"/>, not when the
/// middleware's <c>next</c> returns: the server calls it once the response has been handed to the connection in full
/// (or the request was aborted), after any middleware outside this one (exception handler, status code pages,
/// compression, output caching) has had its say. So the status is the one the client got, the duration covers the
/// whole body including the final flush, and the tracking work happens after the client has its response.
/// </remarks>
internal sealed class HttpTracking
{
    private const string MethodField = "method";

    private static readonly Func<object, Task> CompleteCallback = static state =>
    {
        ((Scope)state).Complete();
        return Task.CompletedTask;
    };

    private readonly MatomoTracker _tracker;
    private readonly ILogger _logger;
    private readonly bool _keepQuery;
    private readonly string? _methodDimension;
    private int _unrecognisedGrpcLogged;

    public HttpTracking(MatomoTracker tracker, MatomoHttpOptions options, ILogger logger)
    {
        _tracker = tracker;
        _logger = logger;
        _keepQuery = options.KeepQuery;

        // The options validator makes sure Matomo:Recording includes CustomDimensions when this is set.
        _methodDimension = options.MethodDimension is { } n ? "dimension" + n.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The call of the request being tracked (what service code may use), or null when it is not tracked.</summary>
    public static MatomoCall? Current(HttpContext context) => context.Features.Get<Scope>()?.Call;

    /// <summary>Sends no hit for the request (static files served after the middleware).</summary>
    public static void Skip(HttpContext context) => Current(context)?.Skip();

    /// <summary>
    /// True when the request is already tracked, here or as a gRPC call (a re-execution by an exception handler or status
    /// code pages, e.g. of grpc-dotnet's bodiless 415 and 426 answers).
    /// </summary>
    public static bool IsTracked(HttpContext context) => context.Features.Get<Scope>() is not null || context.Features[typeof(MatomoTracker)] is not null;

    /// <summary>
    /// Starts tracking the request as <paramref name="action"/>, or returns null when the core excludes the action or
    /// the kind (which allocates nothing) or starting failed (logged). Never throws.
    /// </summary>
    public Scope? Start(HttpContext context, string action, string method) => Start(context, action, method, grpc: false);

    /// <summary>
    /// Starts tracking a gRPC call that grpc-dotnet answers itself (an unimplemented method or service) as
    /// <paramref name="action"/>: kind <see cref="MatomoCallKind.Http"/> (the call's own kind is unknown: the server
    /// never learnt it), no method (as gRPC hits), the URL's real path, and the gRPC status the client got
    /// (<see cref="GrpcStatusOutcomes"/>). Otherwise as <see cref="Start(HttpContext, string, string)"/>.
    /// </summary>
    public Scope? StartGrpc(HttpContext context, string action) => Start(context, action, context.Request.Method, grpc: true);

    private Scope? Start(HttpContext context, string action, string method, bool grpc)
    {
        MatomoCallScope? call = null;
        try
        {
            // Null when excluded or when the request carries the caller's opt-out (Sec-GPC / DNT), which is counted.
            call = _tracker.StartCall(context, action, MatomoCallKind.Http, UrlPath(context.Request));
            if (call is null)
            {
                return null;
            }

            if (!grpc)
            {
                call.SetField(MethodField, method);
                if (_methodDimension is not null)
                {
                    call.Call.SetVar(_methodDimension, method);
                }
            }

            var scope = new Scope(this, context, call, grpc);
            context.Features.Set(scope);
            context.Response.OnCompleted(CompleteCallback, scope);
            return scope;
        }
#pragma warning disable CA1031 // tracking never throws into the request
        catch (Exception ex)
#pragma warning restore CA1031
        {
            call?.Call.Skip();
            OnTrackingFailed(method, action, ex);
            return null;
        }
    }

    /// <summary>A timestamp of the tracker's clock, for <see cref="TrackUnseenGrpcCall"/>.</summary>
    public long Timestamp() => _tracker.TimeProvider.GetTimestamp();

    /// <summary>
    /// True when a <c>MatomoInterceptor</c> saw the gRPC call of this request: it keeps the call's
    /// <see cref="MatomoCallScope"/> as the request's feature of that type when it tracks the call, and sets the feature
    /// of type <see cref="MatomoTracker"/> to the tracker when it decides not to (excluded, opted out, sampled out).
    /// Both are core types, so the adapters agree on them without knowing each other; neither allocates. The latter is
    /// also set by <see cref="TrackUnseenGrpcCall"/> once it has decided for a call.
    /// </summary>
    public static bool IsSeenByGrpcAdapter(HttpContext context)
    {
        var features = context.Features;
        return features[typeof(MatomoCallScope)] is not null || features[typeof(MatomoTracker)] is not null;
    }

    /// <summary>
    /// <see cref="IsSeenByGrpcAdapter"/> while the call may still run on another thread, which may be adding the
    /// interceptor's mark at the same moment: feature collections are not thread-safe for that, so a read that fails or
    /// misses only means "not known yet" (the caller then waits for the end of the call and looks again).
    /// </summary>
    public static bool IsSeenByGrpcAdapterWhileRunning(HttpContext context)
    {
        try
        {
            return IsSeenByGrpcAdapter(context);
        }
#pragma warning disable CA1031 // a torn read of a collection being written: look again at the end
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }

    /// <summary>
    /// Once the pipeline has ended, tracks the call to a gRPC method that no <c>MatomoInterceptor</c> saw (grpc-dotnet
    /// failed it before the interceptor pipeline, or the client aborted it while its request was being read) as the
    /// interceptor would have: the method's full name and kind, the gRPC status the client got (<see cref="GrpcStatusOutcomes"/>), the
    /// exception, and <c>pf_srv</c> from <paramref name="startTimestamp"/>. The core's exclusions, opt-out and
    /// sampling apply as to any call (with KeepErrors a failed call is kept). Does nothing for a call the interceptor
    /// saw. Never throws.
    /// </summary>
    public void TrackUnseenGrpcCall(HttpContext context, EndpointEntry entry, long startTimestamp, Exception? exception)
    {
        // Seen by the interceptor, already decided here (IsSeenByGrpcAdapter covers both), or tracked as an HTTP request.
        if (IsSeenByGrpcAdapter(context) || context.Features.Get<Scope>() is not null)
        {
            return;
        }

        var action = entry.GrpcMethodAction!;
        MatomoCallScope? call = null;
        try
        {
            // Decided here, as the interceptor would have: a re-execution of the request (status code pages) is not
            // tracked again as the error page.
            context.Features[typeof(MatomoTracker)] = _tracker;
            call = _tracker.StartCall(context, action, entry.GrpcMethodKind, urlPath: null);
            if (call is null)
            {
                return;
            }

            call.Call.SetPerf("pf_srv", _tracker.TimeProvider.GetElapsedTime(startTimestamp));
            var aborted = context.RequestAborted.IsCancellationRequested;
            var httpStatus = exception is null || context.Response.HasStarted ? context.Response.StatusCode : StatusCodes.Status500InternalServerError;
            var outcome = entry.JsonTranscoded ? GrpcStatusOutcomes.OfJsonTranscoded(context, aborted, httpStatus) : GrpcStatusOutcomes.Of(context, aborted, httpStatus);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                Log.GrpcCallNotSeenByInterceptor(_logger, call.Action, outcome.ToString());
            }

            call.Complete(outcome, exception);
        }
#pragma warning disable CA1031 // tracking never throws into the request
        catch (Exception ex)
#pragma warning restore CA1031
        {
            call?.Call.Skip();
            OnTrackingFailed(context.Request.Method, action, ex);
        }
    }

    /// <summary>The tracked URL's path: the raw path, escaped, with the query only with Matomo:Http:KeepQuery.</summary>
    private string UrlPath(HttpRequest request)
    {
        var path = request.PathBase.Add(request.Path).ToUriComponent();
        if (path.Length == 0)
        {
            path = "/";
        }

        return _keepQuery && request.QueryString.HasValue ? path + request.QueryString.ToUriComponent() : path;
    }

    private void OnUnrecognisedGrpcCall(string method, string action)
    {
        if (Interlocked.Exchange(ref _unrecognisedGrpcLogged, 1) == 0)
        {
            Log.GrpcCallOnUnrecognisedEndpoint(_logger, method, action);
        }
    }

    private void OnTrackingFailed(string method, string action, Exception exception)
    {
        try
        {
            Log.TrackingFailed(_logger, method, action, exception);
        }
#pragma warning disable CA1031 // nothing is left to report to
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>One tracked request, kept in its features (so that the per-request API finds it).</summary>
    internal sealed class Scope
    {
        private readonly HttpTracking _owner;
        private readonly HttpContext _context;
        private readonly MatomoCallScope _scope;
        private readonly bool _grpc;
        private Exception? _exception;
        private bool _startedWhenThrown;
        private bool _aborted;

        public Scope(HttpTracking owner, HttpContext context, MatomoCallScope scope, bool grpc)
        {
            _owner = owner;
            _context = context;
            _scope = scope;
            _grpc = grpc;
        }

        public MatomoCall Call => _scope.Call;

        /// <summary>Records the exception the rest of the pipeline threw (the middleware rethrows it untouched).</summary>
        public void Fail(Exception exception)
        {
            _exception = exception;
            _startedWhenThrown = _context.Response.HasStarted;
        }

        /// <summary>
        /// Called when the rest of the pipeline has returned or thrown: a client that aborted by then did not get the
        /// response. (An abort seen later, once the response is written, is the client closing its connection.)
        /// </summary>
        public void PipelineEnded() => _aborted = _context.RequestAborted.IsCancellationRequested;

        public void Complete()
        {
            try
            {
                if (!_grpc && IsSeenByGrpcAdapter(_context))
                {
                    // A gRPC call the endpoint catalog did not recognise (grpc-dotnet's metadata renamed): the
                    // interceptor has its hit; a second one here would count the call twice.
                    _scope.Call.Skip();
                    _owner.OnUnrecognisedGrpcCall(_context.Request.Method, _scope.Action);
                    return;
                }

                var outcome = _grpc ? GrpcStatusOutcomes.Of(_context, _aborted, Status()) : HttpOutcomes.For(Status());
                _scope.Complete(outcome, _exception);
            }
#pragma warning disable CA1031 // tracking never throws into the server
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _owner.OnTrackingFailed(_context.Request.Method, _scope.Action, ex);
            }
        }

        /// <summary>
        /// The status recorded, in this order: 499 when the client aborted the request before the pipeline ended; for
        /// an exception, the error status an exception handler outside this middleware sent instead (when the response
        /// had not started), else 500; otherwise the response's status code.
        /// </summary>
        private int Status()
        {
            if (_aborted)
            {
                return HttpOutcomes.ClientClosedRequest;
            }

            var status = _context.Response.StatusCode;
            if (_exception is not null)
            {
                return !_startedWhenThrown && status >= StatusCodes.Status400BadRequest ? status : StatusCodes.Status500InternalServerError;
            }

            return status;
        }
    }
}
