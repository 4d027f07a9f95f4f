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

        // The first call of a method fills the tracker's per-action cache.
        Tracked();
        Excluded();
        Unsampled();
        UnsampledKeepErrors();
        if (_tracker.Tracker.Statistics.Queued != 1)
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
        _tracked.Reset();
        return Sync(Request, _tracked).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Unary: excluded method")]
    public HelloReply Excluded()
    {
        _excluded.Reset();
        return _interceptor.UnaryServerHandler(Request, _excluded, Sync).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Unary: unsampled (KeepErrors off)")]
    public HelloReply Unsampled()
    {
        _unsampled.Reset();
        return _interceptor.UnaryServerHandler(Request, _unsampled, Sync).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Unary: unsampled, KeepErrors on (errors-only scope)")]
    public HelloReply UnsampledKeepErrors()
    {
        _unsampled.Reset();
        return _keepErrorsInterceptor.UnaryServerHandler(Request, _unsampled, Sync).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Unary: tracked")]
    public HelloReply Tracked()
    {
        _tracked.Reset();
        var reply = _interceptor.UnaryServerHandler(Request, _tracked, Sync).GetAwaiter().GetResult();
        _tracker.Queue.Reader.TryRead(out _);
        return reply;
    }

    [Benchmark(Description = "Unary, async handler: no interceptor")]
    public async Task<HelloReply> NoInterceptorAsync()
    {
        _tracked.Reset();
        return await Async(Request, _tracked);
    }

    [Benchmark(Description = "Unary, async handler: tracked")]
    public async Task<HelloReply> TrackedAsync()
    {
        _tracked.Reset();
        var reply = await _interceptor.UnaryServerHandler(Request, _tracked, Async);
        _tracker.Queue.Reader.TryRead(out _);
        return reply;
    }

    private static async Task<HelloReply> YieldingHandler(HelloRequest request, ServerCallContext context)
    {
        await Task.Yield();
        return Reply;
    }
}
