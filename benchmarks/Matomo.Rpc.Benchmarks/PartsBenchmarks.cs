using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.Benchmarks;

[MemoryDiagnoser]
public class PartsBenchmarks
{
    private BenchmarkTracker _tracker = null!;
    private HttpContext _http = null!;
    private FakeServerCallContext _ctx = null!;

    [GlobalSetup]
    public void Setup()
    {
        _tracker = new BenchmarkTracker();
        _http = FakeServerCallContext.CreateHttpContext("/x");
        _ctx = new FakeServerCallContext("/" + BenchmarkTracker.TrackedAction, _http);
        _tracker.Tracker.StartCall(BenchmarkTracker.TrackedAction, MatomoCallKind.Unary)!.Complete();
        _tracker.Drain();
    }

    [Benchmark] public MatomoCallerInfo ReadCaller() => _tracker.Tracker.ReadCaller(_http);
    [Benchmark] public object GetHttpContext() { _ctx.Reset(); return global::Grpc.Core.ServerCallContextExtensions.GetHttpContext(_ctx); }
    [Benchmark] public void StartSkip() => _tracker.Tracker.StartCall(BenchmarkTracker.TrackedAction, MatomoCallKind.Unary)!.Call.Skip();
    [Benchmark] public bool StartComplete() { var s = _tracker.Tracker.StartCall(BenchmarkTracker.TrackedAction, MatomoCallKind.Unary)!; var q = s.Complete(); _tracker.Queue.Reader.TryRead(out _); return q; }
    [Benchmark] public DateTimeOffset UtcNow() => TimeProvider.System.GetUtcNow();
    [Benchmark] public long Timestamp() => TimeProvider.System.GetTimestamp();
}
