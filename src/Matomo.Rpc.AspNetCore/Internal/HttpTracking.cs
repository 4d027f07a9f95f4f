using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>
/// The only place where the HTTP adapter uses the core's per-call API: starts a request's call (caller, URL, method),
/// records an exception, and completes the call with the status the client got. Everything else in the adapter
/// (which endpoints, which methods, action names) knows nothing of the core's call type.
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
    private static readonly Func<object, Task> CompleteCallback = static state =>
    {
        ((Scope)state).Complete();
        return Task.CompletedTask;
    };

    private readonly MatomoTracker _tracker;
    private readonly ILogger _logger;
    private readonly bool _keepQuery;
    private readonly bool _recordMethodVariable;
    private readonly string? _methodDimension;
    private readonly string? _baseUrl;
    private readonly bool _assumeHttps;

    public HttpTracking(MatomoTracker tracker, MatomoHttpOptions options, ILogger logger)
    {
        _tracker = tracker;
        _logger = logger;
        _keepQuery = options.KeepQuery;
        var core = tracker.Options;
        _recordMethodVariable = core.Recording.HasFlag(MatomoRecording.CustomVariables);
        _methodDimension = core.Recording.HasFlag(MatomoRecording.CustomDimensions) && options.MethodDimension is { } n
            ? "dimension" + n.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : null;
        _baseUrl = string.IsNullOrEmpty(core.BaseUrl) ? null : core.BaseUrl.TrimEnd('/');
        _assumeHttps = core.AssumeHttps;
    }

    /// <summary>The call of the request being tracked, or null when it is not tracked.</summary>
    public static MatomoCall? Current(HttpContext context) => context.Features.Get<Scope>()?.Call;

    /// <summary>Sends no hit for the request (static files served after the middleware).</summary>
    public static void Skip(HttpContext context) => Current(context)?.Skip();

    /// <summary>True when the request is already tracked (a re-execution by an exception handler or status code pages).</summary>
    public static bool IsTracked(HttpContext context) => context.Features.Get<Scope>() is not null;

    /// <summary>
    /// Starts tracking the request as <paramref name="action"/>, or returns null when the core excludes the action or
    /// the kind (which allocates nothing) or starting failed (logged). Never throws.
    /// </summary>
    public Scope? Start(HttpContext context, string action, string route, string method)
    {
        MatomoCall? call = null;
        try
        {
            call = _tracker.StartCall(action, MatomoCallKind.Http, route);
            if (call is null)
            {
                return null;
            }

            call.SetCaller(_tracker.ReadCaller(context));
            call.SetVar("url", Url(context.Request));
            if (_recordMethodVariable)
            {
                call.AddCustomVariable("method", method);
            }

            if (_methodDimension is not null)
            {
                call.SetVar(_methodDimension, method);
            }

            var scope = new Scope(this, context, call);
            context.Features.Set(scope);
            context.Response.OnCompleted(CompleteCallback, scope);
            return scope;
        }
#pragma warning disable CA1031 // tracking never throws into the request
        catch (Exception ex)
#pragma warning restore CA1031
        {
            call?.Skip();
            OnTrackingFailed(method, action, ex);
            return null;
        }
    }

    /// <summary>The tracked URL: the raw path (the query only with Matomo:Http:KeepQuery), under Matomo:BaseUrl or the request's host.</summary>
    private string Url(HttpRequest request)
    {
        var path = request.PathBase.Add(request.Path).ToUriComponent();
        if (path.Length == 0)
        {
            path = "/";
        }

        if (_keepQuery && request.QueryString.HasValue)
        {
            path += request.QueryString.ToUriComponent();
        }

        if (_baseUrl is not null)
        {
            return _baseUrl + path;
        }

        // As the core builds the URLs of gRPC calls and hub invocations.
        var scheme = _assumeHttps ? "https" : (request.Scheme is "http" or "https" ? request.Scheme : "http");
        var host = request.Host.HasValue ? request.Host.ToUriComponent() : "localhost";
        return scheme + "://" + host + path;
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
        private Exception? _exception;
        private bool _startedWhenThrown;
        private bool _aborted;

        public Scope(HttpTracking owner, HttpContext context, MatomoCall call)
        {
            _owner = owner;
            _context = context;
            Call = call;
        }

        public MatomoCall Call { get; }

        /// <summary>Records the exception the rest of the pipeline threw (the middleware rethrows it untouched).</summary>
        public void Fail(Exception exception)
        {
            _exception = exception;
            _startedWhenThrown = _context.Response.HasStarted;
            try
            {
                Call.SetException(exception);
            }
#pragma warning disable CA1031 // tracking never throws into the request
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _owner.OnTrackingFailed(_context.Request.Method, Call.Action, ex);
            }
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
                Call.Complete(HttpOutcomes.For(Status()));
            }
#pragma warning disable CA1031 // tracking never throws into the server
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Call.Skip();
                _owner.OnTrackingFailed(_context.Request.Method, Call.Action, ex);
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
