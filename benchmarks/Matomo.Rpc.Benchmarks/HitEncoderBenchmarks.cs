using System.Net;
using BenchmarkDotNet.Attributes;
using Matomo.Rpc.Internal;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// Turning one finished call into its Matomo query, as the sender does on its own thread: as UTF-8 bytes into the
/// batch's pooled buffer (the send path), and as a string (log-only mode, tests). Target: at least 200,000 hits/s on
/// one core, i.e. at most 5 µs per hit.
/// </summary>
[MemoryDiagnoser]
public class HitEncoderBenchmarks
{
    private BenchmarkTracker _plain = null!;
    private BenchmarkTracker _full = null!;
    private HitEncoder _plainEncoder = null!;
    private HitEncoder _fullEncoder = null!;
    private MatomoHit _unaryHit = null!;
    private MatomoHit _richHit = null!;
    private readonly HitBuffer _buffer = new(64 * 1024);

    [GlobalSetup]
    public void Setup()
    {
        _plain = new BenchmarkTracker();
        _full = new BenchmarkTracker(o =>
        {
            o.TokenAuth = "0123456789abcdef0123456789abcdef";
            o.AllowTokenOverHttp = true;
            o.IpMaskBytes = 2;
            o.Recording = MatomoRecording.Both;
            o.Dimensions.Outcome = 1;
            o.Dimensions.CallKind = 2;
            o.Dimensions.Messages = 3;
            o.Dimensions.Error = 4;
        });
        _plainEncoder = new HitEncoder(_plain.Tracker.Options, new VisitorIdGenerator("salt"), new TrackingState(), NullLogger.Instance);
        _fullEncoder = new HitEncoder(_full.Tracker.Options, new VisitorIdGenerator("salt"), new TrackingState(), NullLogger.Instance);

        var caller = new MatomoCallerInfo
        {
            RemoteAddress = IPAddress.Parse("203.0.113.42"),
            UserAgent = BenchmarkTracker.GrpcUserAgent,
            Language = "en-US,en;q=0.9",
            Host = "api.example.org",
            Scheme = "https",
        };

        // A plain unary call: what almost every hit looks like.
        var unary = _plain.Tracker.StartCall(BenchmarkTracker.TrackedAction, MatomoCallKind.Unary)!;
        unary.SetCaller(caller);
        unary.Complete(new MatomoOutcome("OK", 0));
        _unaryHit = Take(_plain);

        // A failed streaming call with service-set variables, a custom variable, a timer, cip and dimensions.
        var rich = _full.Tracker.StartCall("greet.Greeter/Chat", MatomoCallKind.DuplexStreaming)!;
        rich.SetCaller(caller with { Referrer = "https://app.example.org/chat?room=ünïcödé" });
        rich.Call.SetVar("dimension7", "tenant-42");
        rich.Call.SetVar("pf_dm1", "12");
        rich.Call.AddCustomVariable("tenant", "acme & co");
        rich.CountReceived();
        rich.CountSent();
        rich.CountSent();
        rich.Complete(new MatomoOutcome("Unknown", 2, IsError: true), new InvalidOperationException("boom"));
        _richHit = Take(_full);

        // The bytes per hit, which BenchmarkDotNet does not measure: in the run's log.
        Console.WriteLine($"// Bytes per hit: unary call {EncodeUnaryUtf8()}, duplex call {EncodeRichUtf8()}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _buffer.Dispose();
        _plain.Dispose();
        _full.Dispose();
    }

    [Benchmark(Baseline = true, Description = "Encode: unary call, defaults")]
    public string EncodeUnary() => _plainEncoder.Encode(_unaryHit);

    [Benchmark(Description = "Encode: duplex call, error, token+cip, cvars+dimensions, per-call vars")]
    public string EncodeRich() => _fullEncoder.Encode(_richHit);

    [Benchmark(Description = "Encode to UTF-8 (send path): unary call, defaults")]
    public int EncodeUnaryUtf8()
    {
        _buffer.Truncate(0);
        return _plainEncoder.Encode(_unaryHit, _buffer);
    }

    [Benchmark(Description = "Encode to UTF-8 (send path): duplex call, error, token+cip, cvars+dimensions, per-call vars")]
    public int EncodeRichUtf8()
    {
        _buffer.Truncate(0);
        return _fullEncoder.Encode(_richHit, _buffer);
    }

    private static MatomoHit Take(BenchmarkTracker tracker) =>
        tracker.Queue.TryRead(out var hit) ? hit : throw new InvalidOperationException("the hit was not queued");
}
