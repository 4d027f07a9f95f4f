using Matomo.Rpc.AspNetCore.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Matomo.Rpc.AspNetCore.Tests;

/// <summary>Requests that are not tracked cost no allocation: counted on the current thread, not timed.</summary>
public sealed class MatomoHttpMiddlewareAllocationTests
{
    private const int Requests = 1000;
    private static readonly RequestDelegate Endpoint = static _ => Task.CompletedTask;

    private ServiceProvider _services = null!;
    private MatomoHttpMiddleware _middleware = null!;

    [SetUp]
    public void SetUp()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMatomoTracking(o =>
        {
            o.LogOnly = true;
            o.SiteId = 1;
            o.ExcludedActions.Add("GET /private");
        });
        _services = services.BuildServiceProvider();
        var http = new MatomoHttpOptions();
        http.IgnoredMethods.Add("OPTIONS");
        _middleware = new MatomoHttpMiddleware(Endpoint, _services.GetRequiredService<MatomoTracker>(), Options.Create(http), NullLogger<MatomoHttpMiddleware>.Instance);
    }

    [TearDown]
    public void TearDown() => _services.Dispose();

    private static RouteEndpoint Route(string pattern, params object[] metadata) =>
        new(Endpoint, RoutePatternFactory.Parse(pattern), 0, new EndpointMetadataCollection(metadata), pattern);

    private static DefaultHttpContext Request(string method, string path, Endpoint? endpoint)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Path = path;
        context.SetEndpoint(endpoint);
        return context;
    }

    private static IEnumerable<TestCaseData> Untracked()
    {
        yield return new TestCaseData("GET", "/private", Route("/private")).SetName("InvokeAsync_ExcludedAction_AllocatesNothing");
        yield return new TestCaseData("OPTIONS", "/users/1", Route("/users/{id}")).SetName("InvokeAsync_IgnoredMethod_AllocatesNothing");
        yield return new TestCaseData("POST", "/hubs/chat/negotiate", Route("/hubs/chat/negotiate", new HubMetadata(typeof(Hub)))).SetName("InvokeAsync_HubEndpoint_AllocatesNothing");
    }

    [TestCaseSource(nameof(Untracked))]
    public void InvokeAsync_Untracked_AllocatesNothing(string method, string path, Endpoint endpoint)
    {
        var context = Request(method, path, endpoint);
        var incomplete = Run(context, 10);

        var before = GC.GetAllocatedBytesForCurrentThread();
        incomplete += Run(context, Requests);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(incomplete, Is.Zero, "no async frame for an untracked request");
        Assert.That(allocated, Is.Zero);
        Assert.That(_services.GetRequiredService<MatomoTracker>().Statistics.Queued, Is.Zero);
    }

    [TestCase("Sec-GPC")]
    [TestCase("DNT")]
    public void InvokeAsync_OptedOutRequest_AllocatesNothingCounted(string header)
    {
        var context = Request("GET", "/users/1", Route("/users/{id}"));
        context.Request.Headers[header] = "1";
        var incomplete = Run(context, 10);

        var before = GC.GetAllocatedBytesForCurrentThread();
        incomplete += Run(context, Requests);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        var statistics = _services.GetRequiredService<MatomoTracker>().Statistics;
        Assert.That(incomplete, Is.Zero, "no async frame for an opted-out request");
        Assert.That(allocated, Is.Zero);
        Assert.That(statistics.Queued, Is.Zero);
        Assert.That(statistics.OptedOut, Is.EqualTo(Requests + 10));
    }

    private static RouteEndpoint GrpcMethod() =>
        Route("greet.Greeter/SayHello", new global::Grpc.AspNetCore.Server.GrpcMethodMetadata(typeof(object), new global::Grpc.Core.Method<string, string>(global::Grpc.Core.MethodType.Unary, "greet.Greeter", "SayHello", global::Grpc.Core.Marshallers.StringMarshaller, global::Grpc.Core.Marshallers.StringMarshaller)));

    [TestCase(true, TestName = "InvokeAsync_GrpcMethodTrackedByTheInterceptor_AllocatesNothing")]
    [TestCase(false, TestName = "InvokeAsync_GrpcMethodTheInterceptorLeftUntracked_AllocatesNothing")]
    public void InvokeAsync_GrpcMethodTheInterceptorSaw_AllocatesNothing(bool tracked)
    {
        var tracker = _services.GetRequiredService<MatomoTracker>();
        var context = Request("POST", "/greet.Greeter/SayHello", GrpcMethod());
        using var scope = tracked ? tracker.StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary) : null;
        if (tracked)
        {
            context.Features[typeof(MatomoCallScope)] = scope;
        }
        else
        {
            context.Features[typeof(MatomoTracker)] = tracker;
        }

        var incomplete = Run(context, 10);

        var before = GC.GetAllocatedBytesForCurrentThread();
        incomplete += Run(context, Requests);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(incomplete, Is.Zero, "no async frame for a call that ends synchronously");
        Assert.That(allocated, Is.Zero);
        Assert.That(tracker.Statistics.Queued, Is.Zero, "the adapter leaves the call to the interceptor");
    }

    /// <summary>A middleware whose gRPC endpoint yields until <paramref name="gate"/> is set, after marking the call as the interceptor does when <paramref name="mark"/>.</summary>
    private MatomoHttpMiddleware YieldingGrpcMiddleware(Func<TaskCompletionSource> gate, bool mark)
    {
        var tracker = _services.GetRequiredService<MatomoTracker>();
        RequestDelegate endpoint = context =>
        {
            if (mark)
            {
                context.Features[typeof(MatomoTracker)] = tracker;
            }

            return gate().Task;
        };
        return new MatomoHttpMiddleware(endpoint, tracker, Options.Create(new MatomoHttpOptions()), NullLogger<MatomoHttpMiddleware>.Instance);
    }

    [Test]
    public async Task InvokeAsync_GrpcMethodMarkedBeforeItYields_NoAsyncFrame()
    {
        TaskCompletionSource gate = new();
        var middleware = YieldingGrpcMiddleware(() => gate, mark: true);
        var context = Request("POST", "/greet.Greeter/SayHello", GrpcMethod());
        long allocated = 0;

        for (var i = 0; i < 110; i++)
        {
            var next = new TaskCompletionSource();
            gate = next;
            context.Features[typeof(MatomoTracker)] = null;
            var before = GC.GetAllocatedBytesForCurrentThread();
            var task = middleware.InvokeAsync(context);
            var after = GC.GetAllocatedBytesForCurrentThread();
            if (i >= 10)
            {
                allocated += after - before;
            }

            Assert.That(task, Is.SameAs(next.Task), "the endpoint's own task, not a frame of the middleware");
            next.SetResult();
            await task;
        }

        Assert.That(allocated, Is.Zero);
        Assert.That(_services.GetRequiredService<MatomoTracker>().Statistics.Queued, Is.Zero);
    }

    [Test]
    public async Task InvokeAsync_GrpcMethodNotMarkedWhenItYields_TrackedOnceAtTheEnd()
    {
        var gate = new TaskCompletionSource();
        var middleware = YieldingGrpcMiddleware(() => gate, mark: false);
        var context = Request("POST", "/greet.Greeter/SayHello", GrpcMethod());
        var tracker = _services.GetRequiredService<MatomoTracker>();

        var task = middleware.InvokeAsync(context);
        var queuedWhileRunning = tracker.Statistics.Queued;
        context.Response.Headers["grpc-status"] = "8";
        gate.SetResult();
        await task;

        Assert.That(task.IsCompletedSuccessfully, Is.True);
        Assert.That((queuedWhileRunning, tracker.Statistics.Queued), Is.EqualTo((0L, 1L)));
    }

    [Test]
    public void InvokeAsync_GrpcMethodNoInterceptorSaw_TrackedAsTheMethod()
    {
        var tracker = _services.GetRequiredService<MatomoTracker>();
        var context = Request("POST", "/greet.Greeter/SayHello", GrpcMethod());
        context.Response.Headers["grpc-status"] = "8";

        var task = _middleware.InvokeAsync(context);

        Assert.That(task.IsCompletedSuccessfully, Is.True);
        Assert.That(tracker.Statistics.Queued, Is.EqualTo(1));
    }

    [Test]
    public void InvokeAsync_TrackedRoute_StartsItsCallWithoutWaitingForMatomo()
    {
        var context = Request("GET", "/users/1", Route("/users/{id}"));

        var task = _middleware.InvokeAsync(context);

        Assert.That(task.IsCompletedSuccessfully, Is.True);
        Assert.That(context.GetMatomoCall()?.Action, Is.EqualTo("GET /users/{id}"));
    }

    private int Run(HttpContext context, int requests)
    {
        var incomplete = 0;
        for (var i = 0; i < requests; i++)
        {
            if (!_middleware.InvokeAsync(context).IsCompletedSuccessfully)
            {
                incomplete++;
            }
        }

        return incomplete;
    }
}
