using System.Net;
using BenchmarkDotNet.Attributes;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// The hand-off from calls to the sender under contention: producer threads (as many as the machine has cores, as the
/// server's calls are) complete tracked calls while this thread takes the hits out and frees their places a batch at a
/// time, as the sender does. Per hit: the call's scope and hit, the queue's write and the sender's read; no encoding. The single-
/// threaded <see cref="EnqueueBenchmarks"/> shows the same path without another core touching the queue's memory.
/// </summary>
[MemoryDiagnoser]
public class QueueHandOffBenchmarks
{
    private const int Hits = 40_000;
    private const int BatchSize = 100;
    private static readonly MatomoOutcome Ok = new("OK", 0);

    private BenchmarkTracker _tracker = null!;
    private MatomoCallerInfo _caller;

    [Params(1, 2)]
    public int Producers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _tracker = new BenchmarkTracker(o => o.Sending.QueueCapacity = 1_000_000);
        _caller = BenchmarkTracker.LoopbackCaller();
        _tracker.Tracker.StartCall(BenchmarkTracker.TrackedAction, MatomoCallKind.Unary)!.Complete();
        _tracker.Drain();
    }

    [GlobalCleanup]
    public void Cleanup() => _tracker.Dispose();

    [Benchmark(OperationsPerInvoke = Hits, Description = "calls on N threads -> queue -> the sender's read, release per 100")]
    public int HandOff()
    {
        var perProducer = Hits / Producers;
        var producers = new Thread[Producers];
        for (var p = 0; p < Producers; p++)
        {
            producers[p] = new Thread(() =>
            {
                for (var i = 0; i < perProducer; i++)
                {
                    var scope = _tracker.Tracker.StartCall(_caller, BenchmarkTracker.TrackedAction, MatomoCallKind.Unary, null)!;
                    scope.Complete(Ok);
                }
            });
            producers[p].Start();
        }

        // Places are freed a batch at a time, as the sender does when a batch is answered.
        var taken = 0;
        var held = 0;
        while (taken < perProducer * Producers)
        {
            if (_tracker.TryTake())
            {
                taken++;
                if (++held == BatchSize)
                {
                    _tracker.Queue.Release(held);
                    held = 0;
                }
            }
        }

        _tracker.Queue.Release(held);

        foreach (var producer in producers)
        {
            producer.Join();
        }

        return taken;
    }
}
