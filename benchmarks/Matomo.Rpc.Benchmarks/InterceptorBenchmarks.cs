using BenchmarkDotNet.Attributes;
using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// MatomoInterceptor around a unary handler, against the same handler called directly. Targets: an excluded call
/// allocates nothing extra; a tracked call adds at most 1 KB and 2 µs; a call left out by sampling (KeepErrors off)
/// costs what an excluded one does, 0 B; with KeepErrors on it keeps a scope until it ends, to see its outcome (measured
/// here, not a target). The queue is drained after each call.
/// On grpc-dotnet's own call context the interceptor keeps the call as a feature of the request (Kestrel reuses that
/// storage), not in UserState, which grpc-dotnet would create per call (about 200 B); this fake context is not
/// grpc-dotnet's, so the interceptor uses its UserState, which exists already (for the HttpContext): the same 0 B.
/// That fake context takes the interceptor's path for other hosts (the caller set after StartCall); the rows "grpc-dotnet's
/// context" run the path a real server takes, on grpc-dotnet's own call context (made by reflection around a
/// DefaultHttpContext, whose headers are a dictionary: Kestrel's typed headers are cheaper to read).
/// </summary>
[MemoryDiagnoser]
public class InterceptorBenchmarks
{
    private static readonly HelloRequest Request = new() { Name = "bench" };
    private static readonly HelloReply Reply = new() { Message = "Hello bench" };
    private static readonly Task<HelloReply> Completed = Task.FromResult(Reply);
    private static readonly UnaryServerMethod<HelloRequest, HelloReply> Sync = (_, _) => Completed;
    private static readonly UnaryServerMethod<HelloRequest, HelloReply> Async = YieldingHandler;

    private BenchmarkTracker _tracker = null!;
    private MatomoInterceptor _interceptor = null!;
    private FakeServerCallContext _tracked = null!;
    private FakeServerCallContext _excluded = null!;
    private FakeServerCallContext _unsampled = null!;
    private BenchmarkTracker _keepErrorsTracker = null!;
    private MatomoInterceptor _keepErrorsInterceptor = null!;
    private ServerCallContext _grpcTracked = null!;
    private ServerCallContext _grpcExcluded = null!;

    [GlobalSetup]
    public void Setup()
    {
        _tracker = new BenchmarkTracker();
        _interceptor = new MatomoInterceptor(_tracker.Tracker);
        _tracked = new FakeServerCallContext("/" + BenchmarkTracker.TrackedAction, FakeServerCallContext.CreateHttpContext("/" + BenchmarkTracker.TrackedAction));
        _excluded = new FakeServerCallContext("/" + BenchmarkTracker.ExcludedAction, FakeServerCallContext.CreateHttpContext("/" + BenchmarkTracker.ExcludedAction));
        _unsampled = new FakeServerCallContext("/" + BenchmarkTracker.UnsampledAction, FakeServerCallContext.CreateHttpContext("/" + BenchmarkTracker.UnsampledAction));
        _keepErrorsTracker = new BenchmarkTracker(o => o.Sampling.KeepErrors = true);
        _keepErrorsInterceptor = new MatomoInterceptor(_keepErrorsTracker.Tracker);

        _grpcTracked = GrpcDotnetContext("/" + BenchmarkTracker.TrackedAction);
        _grpcExcluded = GrpcDotnetContext("/" + BenchmarkTracker.ExcludedAction);

        // The first call of a method fills the tracker's per-action cache.
        Tracked();
        GrpcExcluded();
        Excluded();
        Unsampled();
        UnsampledKeepErrors();
        GrpcTracked();
        if (_tracker.Tracker.Statistics.Queued != 2)
        {
            throw new InvalidOperationException("the tracked call was not queued, or the excluded one was");
        }

        if (_tracker.Tracker.Statistics.SampledOut != 1 || _keepErrorsTracker.Tracker.Statistics is not { SampledOut: 1, Queued: 0 })
        {
            throw new InvalidOperationException("the unsampled calls were not counted as sampled out, or one was queued");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tracker.Dispose();
        _keepErrorsTracker.Dispose();
    }

    [Benchmark(Baseline = true, Description = "Unary: no interceptor")]
    public HelloReply NoInterceptor()
    {
        NewCall(_tracked);
        return Sync(Request, _tracked).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Unary: excluded method")]
    public HelloReply Excluded()
    {
        NewCall(_excluded);
        return _interceptor.UnaryServerHandler(Request, _excluded, Sync).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Unary: unsampled (KeepErrors off)")]
    public HelloReply Unsampled()
    {
        NewCall(_unsampled);
        return _interceptor.UnaryServerHandler(Request, _unsampled, Sync).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Unary: unsampled, KeepErrors on (errors-only scope)")]
    public HelloReply UnsampledKeepErrors()
    {
        NewCall(_unsampled);
        return _keepErrorsInterceptor.UnaryServerHandler(Request, _unsampled, Sync).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Unary: tracked")]
    public HelloReply Tracked()
    {
        NewCall(_tracked);
        var reply = _interceptor.UnaryServerHandler(Request, _tracked, Sync).GetAwaiter().GetResult();
        _tracker.TakeOne();
        return reply;
    }

    [Benchmark(Description = "Unary, grpc-dotnet's context: no interceptor")]
    public HelloReply GrpcNoInterceptor()
    {
        ResetFeatures(_grpcTracked);
        return Sync(Request, _grpcTracked).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Unary, grpc-dotnet's context: excluded method")]
    public HelloReply GrpcExcluded()
    {
        ResetFeatures(_grpcExcluded);
        return _interceptor.UnaryServerHandler(Request, _grpcExcluded, Sync).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Unary, grpc-dotnet's context: tracked")]
    public HelloReply GrpcTracked()
    {
        ResetFeatures(_grpcTracked);
        var reply = _interceptor.UnaryServerHandler(Request, _grpcTracked, Sync).GetAwaiter().GetResult();
        _tracker.TakeOne();
        return reply;
    }

    [Benchmark(Description = "Unary, async handler: no interceptor")]
    public async Task<HelloReply> NoInterceptorAsync()
    {
        NewCall(_tracked);
        return await Async(Request, _tracked);
    }

    [Benchmark(Description = "Unary, async handler: tracked")]
    public async Task<HelloReply> TrackedAsync()
    {
        NewCall(_tracked);
        var reply = await _interceptor.UnaryServerHandler(Request, _tracked, Async);
        _tracker.TakeOne();
        return reply;
    }

    /// <summary>grpc-dotnet's HttpContextServerCallContext around a request for <paramref name="path"/> (its constructor and options are internal).</summary>
    private static ServerCallContext GrpcDotnetContext(string path)
    {
        const System.Reflection.BindingFlags Any = System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic;
        var type = MatomoInterceptor.AspNetCoreCallContext ?? throw new InvalidOperationException("grpc-dotnet's call context type was not found");
        var constructor = type.GetConstructors(Any | System.Reflection.BindingFlags.Instance).Single(c => c.GetParameters().Length == 5);
        var optionsType = constructor.GetParameters()[1].ParameterType;
        var create = optionsType.GetMethod("Create", Any | System.Reflection.BindingFlags.Static, [typeof(IEnumerable<global::Grpc.AspNetCore.Server.GrpcServiceOptions>)])
            ?? throw new InvalidOperationException("grpc-dotnet's MethodOptions.Create was not found");
        var options = create.Invoke(null, [new[] { new global::Grpc.AspNetCore.Server.GrpcServiceOptions() }]);
        var http = FakeServerCallContext.CreateHttpContext(path);
        return (ServerCallContext)constructor.Invoke([http, options, typeof(HelloRequest), typeof(HelloReply), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance]);
    }

    /// <summary>
    /// A new call on a fake context: its UserState put back, and the marks the last call left among its request's features
    /// gone, as Kestrel resets them (an interceptor that finds its mark from the last call leaves the call alone).
    /// </summary>
    private static void NewCall(FakeServerCallContext context)
    {
        context.Reset();
        ResetFeatures(context);
    }

    /// <summary>A new request on the same connection: the marks the last call left among the features go, as Kestrel resets them.</summary>
    private static void ResetFeatures(ServerCallContext context)
    {
        var features = context.GetHttpContext().Features;
        features[typeof(MatomoCallScope)] = null;
        features[typeof(MatomoTracker)] = null;
    }

    private static async Task<HelloReply> YieldingHandler(HelloRequest request, ServerCallContext context)
    {
        await Task.Yield();
        return Reply;
    }
}
