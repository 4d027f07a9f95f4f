using System.Net;
using BenchmarkDotNet.Attributes;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// The core's share of a tracked call: StartCall, SetCaller, Complete (which builds the immutable hit and TryWrites it
/// into the bounded queue). The hit is taken out and its place freed after every call, as the sender does in practice.
/// </summary>
[MemoryDiagnoser]
public class EnqueueBenchmarks
{
    private static readonly MatomoOutcome Ok = new("OK", 0);

    private BenchmarkTracker _tracker = null!;
    private MatomoCallerInfo _caller;

    [GlobalSetup]
    public void Setup()
    {
        _tracker = new BenchmarkTracker();
        _caller = BenchmarkTracker.LoopbackCaller();

        // Warm the per-action cache, as the first call of a method does.
        _tracker.Tracker.StartCall(BenchmarkTracker.TrackedAction, MatomoCallKind.Unary)!.Complete();
        _tracker.Drain();
    }

    [GlobalCleanup]
    public void Cleanup() => _tracker.Dispose();

    [Benchmark(Description = "StartCall: excluded action (returns null)")]
    public MatomoCallScope? StartExcluded() => _tracker.Tracker.StartCall(BenchmarkTracker.ExcludedAction, MatomoCallKind.Unary);

    [Benchmark(Baseline = true, Description = "StartCall + SetCaller + Complete, drained")]
    public bool StartCompleteDrain()
    {
        var scope = _tracker.Tracker.StartCall(BenchmarkTracker.TrackedAction, MatomoCallKind.Unary)!;
        scope.SetCaller(_caller);
        var queued = scope.Complete(Ok);
        _tracker.TakeOne();
        return queued;
    }

    [Benchmark(Description = "... + SetVar + AddCustomVariable + MeasurePerf")]
    public bool StartWithPerCallApiCompleteDrain()
    {
        var scope = _tracker.Tracker.StartCall(BenchmarkTracker.TrackedAction, MatomoCallKind.Unary)!;
        scope.SetCaller(_caller);
        var call = scope.Call;
        call.SetVar("dimension7", "tenant-42");
        call.AddCustomVariable("tenant", "acme");
        using (call.MeasurePerf("pf_dm1"))
        {
        }

        var queued = scope.Complete(Ok);
        _tracker.TakeOne();
        return queued;
    }
}
