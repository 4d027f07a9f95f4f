using System.Reflection;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>
/// The filter driven directly with fake contexts, over the core's in-memory sink (each hit sent at once) and a
/// <see cref="FakeTimeProvider"/>.
/// </summary>
public sealed class FilterHarness : IAsyncDisposable
{
    private readonly IHost _host;

    private FilterHarness(IHost host)
    {
        _host = host;
        Filter = new MatomoHubFilter(Tracker, NullLogger<MatomoHubFilter>.Instance);
    }

    public FakeTimeProvider Time => (FakeTimeProvider)_host.Services.GetRequiredService<TimeProvider>();

    public MatomoTracker Tracker => _host.Services.GetRequiredService<MatomoTracker>();

    public InMemoryMatomoSink Sink => _host.Services.GetRequiredService<InMemoryMatomoSink>();

    public MatomoHubFilter Filter { get; }

    public ChatHub Hub { get; } = new(new Rendezvous(), new ConnectionLog(), new StreamGate());

    public static async Task<FilterHarness> StartAsync(Action<MatomoOptions>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<TimeProvider>(new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero)));
        builder.Services.AddMatomoTracking(o =>
        {
            o.SiteId = 1;
            o.Sending.BatchSize = o.Sending.MaxBatchSize = 1; // sent at once, never waiting for the flush interval on the fake clock
            configure?.Invoke(o);
        }).UseInMemorySink();
        var host = builder.Build();
        await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(10));
        return new FilterHarness(host);
    }

    public HubLifetimeContext Lifetime(HubCallerContext context) => new(context, _host.Services, Hub);

    public HubInvocationContext Invocation(HubCallerContext context, string method, params object?[] arguments) =>
        new(context, _host.Services, Hub, typeof(ChatHub).GetMethod(method, BindingFlags.Public | BindingFlags.Instance)!, arguments);

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _host.Dispose();
    }
}
