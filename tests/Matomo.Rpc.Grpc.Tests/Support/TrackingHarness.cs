using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Grpc.Tests.Support;

/// <summary>
/// A real <see cref="MatomoTracker"/> on a <see cref="FakeTimeProvider"/>, with its background sender running and hits
/// kept by the core's <see cref="InMemoryMatomoSink"/> (encoded exactly as they would be sent).
/// </summary>
public sealed class TrackingHarness : IAsyncDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private readonly ServiceProvider _provider;
    private readonly IHostedService[] _hosted;

    private TrackingHarness(ServiceProvider provider, FakeTimeProvider time)
    {
        _provider = provider;
        Time = time;
        _hosted = [.. provider.GetServices<IHostedService>()];
        Tracker = provider.GetRequiredService<MatomoTracker>();
        Sink = provider.GetRequiredService<InMemoryMatomoSink>();
        Interceptor = ActivatorUtilities.CreateInstance<MatomoInterceptor>(provider);
    }

    public FakeTimeProvider Time { get; }

    public MatomoTracker Tracker { get; }

    public InMemoryMatomoSink Sink { get; }

    public MatomoInterceptor Interceptor { get; }

    public IServiceProvider Services => _provider;

    /// <summary>Hits completed so far (queued for sending): 0 means no hit was ever produced.</summary>
    public long Queued => Tracker.Statistics.Queued;

    public static async Task<TrackingHarness> StartAsync(Action<MatomoOptions>? configure = null, Action<IServiceCollection>? services = null)
    {
        var time = new FakeTimeProvider(Start);
        var collection = new ServiceCollection().AddLogging();
        collection.AddSingleton<TimeProvider>(time);
        services?.Invoke(collection);
        collection.AddMatomoTracking(o =>
        {
            o.SiteId = 1;
            // One hit per batch: the sender sends at once, without waiting for the flush interval on the fake clock
            // (batches that grew would wait for it).
            o.Sending.BatchSize = o.Sending.MaxBatchSize = 1;
            configure?.Invoke(o);
        }).UseInMemorySink();

        var harness = new TrackingHarness(collection.BuildServiceProvider(validateScopes: true), time);
        foreach (var hosted in harness._hosted)
        {
            await hosted.StartAsync(CancellationToken.None).WaitAsync(TestTimeouts.Default);
        }

        return harness;
    }

    public async Task<MatomoRecordedHit> SingleHitAsync()
    {
        var hits = await Sink.WaitForHitsAsync(1, TestTimeouts.Default).WaitAsync(TestTimeouts.Default);
        Assert.That(hits, Has.Count.EqualTo(1), "exactly one hit");
        Assert.That(Queued, Is.EqualTo(1), "exactly one hit queued");
        return hits[0];
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var hosted in _hosted)
        {
            await hosted.StopAsync(CancellationToken.None).WaitAsync(TestTimeouts.Default);
        }

        await _provider.DisposeAsync();
    }
}
