using BenchmarkDotNet.Attributes;
using Matomo.Rpc.AspNetCore;
using Matomo.Rpc.AspNetCore.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// The HTTP adapter's middleware around a request whose endpoint is already selected (as after routing), against the
/// request without it: excluded by action, by method, and owned by another adapter (a hub endpoint) must allocate
/// nothing; a tracked request runs its completion callback as the server would and the queue is drained.
/// </summary>
[MemoryDiagnoser]
public class HttpMiddlewareBenchmarks
{
    private static readonly RequestDelegate Endpoint = static _ => Task.CompletedTask;

    private BenchmarkTracker _tracker = null!;
    private MatomoHttpMiddleware _middleware = null!;
    private HttpContext _tracked = null!;
    private CompletingResponseFeature _trackedResponse = null!;
    private HttpContext _excludedAction = null!;
    private HttpContext _ignoredMethod = null!;
    private HttpContext _hubEndpoint = null!;
    private HttpContext _grpcMethod = null!;

    [GlobalSetup]
    public void Setup()
    {
        _tracker = new BenchmarkTracker(o => o.ExcludedActions.Add("GET /private"));
        var http = new MatomoHttpOptions();
        http.IgnoredMethods.Add("OPTIONS");
        _middleware = new MatomoHttpMiddleware(Endpoint, _tracker.Tracker, Options.Create(http), NullLogger<MatomoHttpMiddleware>.Instance);

        var users = Route("/users/{id}");
        (_tracked, _trackedResponse) = Request("GET", "/users/42", users);
        (_excludedAction, _) = Request("GET", "/private", Route("/private"));
        (_ignoredMethod, _) = Request("OPTIONS", "/users/42", users);
        (_hubEndpoint, _) = Request("POST", "/hubs/chat/negotiate", Route("/hubs/chat/negotiate", new HubMetadata(typeof(Hub))));
        (_grpcMethod, _) = Request("POST", "/greet.Greeter/SayHello", Route("greet.Greeter/SayHello", new global::Grpc.AspNetCore.Server.GrpcMethodMetadata(typeof(object), new global::Grpc.Core.Method<string, string>(global::Grpc.Core.MethodType.Unary, "greet.Greeter", "SayHello", global::Grpc.Core.Marshallers.StringMarshaller, global::Grpc.Core.Marshallers.StringMarshaller))));

        // What the interceptor leaves on a call it tracks (its scope; here one never completed).
        _grpcMethod.Features[typeof(MatomoCallScope)] = _tracker.Tracker.StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary);

        Tracked();
        ExcludedAction();
        IgnoredMethod();
        HubEndpoint();
        GrpcMethod();
        if (_tracker.Tracker.Statistics.Queued != 1)
        {
            throw new InvalidOperationException("the tracked request was not queued, or an untracked one was");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _tracker.Dispose();

    [Benchmark(Baseline = true, Description = "HTTP request: no middleware")]
    public Task NoMiddleware() => Endpoint(_tracked);

    [Benchmark(Description = "HTTP request: excluded action")]
    public Task ExcludedAction() => _middleware.InvokeAsync(_excludedAction);

    [Benchmark(Description = "HTTP request: ignored method")]
    public Task IgnoredMethod() => _middleware.InvokeAsync(_ignoredMethod);

    [Benchmark(Description = "HTTP request: hub endpoint (other adapter)")]
    public Task HubEndpoint() => _middleware.InvokeAsync(_hubEndpoint);

    [Benchmark(Description = "gRPC call the interceptor tracks")]
    public Task GrpcMethod() => _middleware.InvokeAsync(_grpcMethod);

    [Benchmark(Description = "HTTP request: tracked")]
    public void Tracked()
    {
        _middleware.InvokeAsync(_tracked).GetAwaiter().GetResult();
        _trackedResponse.Complete();
        _tracked.Features.Set<HttpTracking.Scope>(null);
        _tracker.Drain();
    }

    private static RouteEndpoint Route(string pattern, params object[] metadata) =>
        new(Endpoint, RoutePatternFactory.Parse(pattern), 0, new EndpointMetadataCollection(metadata), pattern);

    internal static (HttpContext Context, CompletingResponseFeature Response) Request(string method, string path, Endpoint endpoint)
    {
        var response = new CompletingResponseFeature();
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpResponseFeature>(response);
        context.Request.Method = method;
        context.Request.Scheme = "https";
        context.Request.Host = new HostString("api.example.org");
        context.Request.Path = path;
        context.Request.Headers.UserAgent = "bench/1.0";
        context.SetEndpoint(endpoint);
        return (context, response);
    }

    /// <summary>A response feature that runs its OnCompleted callbacks when told to, as a server does once the response is sent.</summary>
    internal sealed class CompletingResponseFeature : HttpResponseFeature
    {
        private readonly List<(Func<object, Task> Callback, object State)> _completed = new(2);

        public override void OnCompleted(Func<object, Task> callback, object state) => _completed.Add((callback, state));

        public void Complete()
        {
            for (var i = _completed.Count - 1; i >= 0; i--)
            {
                _completed[i].Callback(_completed[i].State).GetAwaiter().GetResult();
            }

            _completed.Clear();
        }
    }
}
