using Matomo.Rpc.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// A tracker wired as in an app (AddMatomoTracking), but with no hosted sender running: benchmarks drain the queue
/// themselves, so nothing else competes for the CPU while they measure.
/// </summary>
internal sealed class BenchmarkTracker : IDisposable
{
    public const string TrackedAction = "greet.Greeter/SayHello";
    public const string ExcludedAction = "greet.Greeter/SayHelloExcluded";

    /// <summary>The user agent grpc-dotnet's client sends, as the benchmarks' callers do.</summary>
    public const string GrpcUserAgent = "grpc-dotnet/2.80.0 (.NET 10.0.0; CLR 10.0.0; net10.0; linux; x64)";

    /// <summary>A grpc-dotnet client on loopback over plain HTTP/2: the caller of the call-path benchmarks.</summary>
    public static MatomoCallerInfo LoopbackCaller() => new()
    {
        RemoteAddress = System.Net.IPAddress.Loopback,
        UserAgent = GrpcUserAgent,
        Host = "localhost:5001",
        Scheme = "http",
    };

    /// <summary>Sampled at rate 0: every call is left out by sampling (errors kept only with KeepErrors on).</summary>
    public const string UnsampledAction = "greet.Greeter/SayHelloUnsampled";

    private readonly ServiceProvider _services;

    public BenchmarkTracker(Action<MatomoOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
        services.AddMatomoTracking(o =>
        {
            o.TrackerUrl = "http://127.0.0.1:9/matomo.php";
            o.SiteId = 1;
            o.ExcludedActions.Add(ExcludedAction);
            o.ExcludedActions.Add("ChatHub/Excluded");
            o.Sampling.KeepErrors = false;
            o.Sampling.Actions[UnsampledAction] = 0;
            o.Sampling.Actions["ChatHub/Unsampled"] = 0;
            configure?.Invoke(o);
        });
        _services = services.BuildServiceProvider();
        Tracker = _services.GetRequiredService<MatomoTracker>();
        Queue = _services.GetRequiredService<HitQueue>();
    }

    public IServiceProvider Services => _services;

    public MatomoTracker Tracker { get; }

    public HitQueue Queue { get; }

    /// <summary>Empties the queue as the sender would (without encoding or sending), freeing the hits' places.</summary>
    public int Drain()
    {
        var count = 0;
        while (TakeOne())
        {
            count++;
        }

        return count;
    }

    /// <summary>
    /// Takes the oldest hit out and frees its place, as the sender does once the hit is sent. A benchmark that only took
    /// hits out would fill the queue's bound (hits taken are held until released) and measure the full queue's drops.
    /// </summary>
    public bool TakeOne()
    {
        if (!Queue.TryRead(out _))
        {
            return false;
        }

        Queue.Release(1);
        return true;
    }

    /// <summary>Takes the oldest hit out without freeing its place (the caller releases places a batch at a time).</summary>
    public bool TryTake() => Queue.TryRead(out _);

    public void Dispose() => _services.Dispose();
}
