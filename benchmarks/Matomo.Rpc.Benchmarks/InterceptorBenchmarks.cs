using BenchmarkDotNet.Attributes;
using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// MatomoInterceptor around a unary handler, against the same handler called directly. Targets: an excluded call
/// allocates nothing extra; a tracked call adds at most 1 KB and 2 µs. The queue is drained after each call.
/// Not included here (the load test includes it): grpc-dotnet creates a call's UserState dictionary lazily, on the
/// interceptor's first use, about 200 B; this fake context has one already, for the HttpContext.
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

    [GlobalSetup]
    public void Setup()
    {
        _tracker = new BenchmarkTracker();
        _interceptor = new MatomoInterceptor(_tracker.Tracker);
        _tracked = new FakeServerCallContext("/" + BenchmarkTracker.TrackedAction, FakeServerCallContext.CreateHttpContext("/" + BenchmarkTracker.TrackedAction));
        _excluded = new FakeServerCallContext("/" + BenchmarkTracker.ExcludedAction, FakeServerCallContext.CreateHttpContext("/" + BenchmarkTracker.ExcludedAction));

        // The first call of a method fills the tracker's per-action cache.
        Tracked();
        Excluded();
        if (_tracker.Tracker.Statistics.Queued != 1)
        {
            throw new InvalidOperationException("the tracked call was not queued, or the excluded one was");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _tracker.Dispose();

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
