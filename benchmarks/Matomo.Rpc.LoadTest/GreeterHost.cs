using System.Diagnostics;
using System.Net;
using Matomo.Rpc.Grpc;
using Matomo.Rpc.Internal;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Trace;

namespace Matomo.Rpc.LoadTest;

/// <summary>A Greeter host on 127.0.0.1 (Kestrel, HTTP/2 without TLS), built fresh for one mode and one round.</summary>
internal sealed class GreeterHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GreeterHost(WebApplication app, string address, CountingCollection<Activity>? activities)
    {
        _app = app;
        Address = address;
        Activities = activities;
    }

    public string Address { get; }

    public CountingCollection<Activity>? Activities { get; }

    public MatomoTracker? Tracker => _app.Services.GetService<MatomoTracker>();

    /// <summary>The host's services (the capacity benchmark reaches the sender through them).</summary>
    public IServiceProvider Services => _app.Services;

    /// <param name="mode">What the host tracks calls with.</param>
    /// <param name="trackerUrl">Matomo's tracker URL (Matomo.Rpc modes and the naive mode).</param>
    /// <param name="configureMatomo">
    /// For the Matomo.Rpc modes: the options to use instead of the load test's (site 1, a 2 s shutdown drain, defaults
    /// otherwise); <see cref="MatomoOptions.TrackerUrl"/> is set to <paramref name="trackerUrl"/> before it runs.
    /// </param>
    public static async Task<GreeterHost> StartAsync(Mode mode, string trackerUrl, Action<MatomoOptions>? configureMatomo = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(10));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2);
        });

        CountingCollection<Activity>? activities = null;
        switch (mode)
        {
            case Mode.Baseline:
                builder.Services.AddGrpc();
                break;
            case Mode.Matomo or Mode.MatomoSlow or Mode.MatomoDown or Mode.MatomoCounting or Mode.MatomoDownSpool
                or Mode.MatomoDroppedAtQueue or Mode.MatomoEncodedNotSent or Mode.MatomoCountingLargeBatches:
                if (mode is Mode.MatomoDroppedAtQueue or Mode.MatomoEncodedNotSent)
                {
                    // Registered first: AddMatomoTracking keeps it (TryAdd) instead of its HTTP writer.
                    builder.Services.AddSingleton<IHitWriter>(new LocalHitWriter(hang: mode == Mode.MatomoDroppedAtQueue));
                }

                var spool = mode == Mode.MatomoDownSpool ? Path.Combine(Path.GetTempPath(), "matomo-rpc-loadtest-spool", Guid.NewGuid().ToString("N")) : null;
                builder.Services.AddMatomoTracking(o =>
                {
                    o.Spool.Directory = spool;
                    o.TrackerUrl = trackerUrl;
                    if (configureMatomo is not null)
                    {
                        configureMatomo(o);
                        return;
                    }

                    o.SiteId = 1;

                    // Defaults otherwise (batches of 100, 1 s flush, a queue of 10,000); a shorter shutdown drain
                    // keeps the run short when Matomo is slow or down.
                    o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(2);
                    if (mode == Mode.MatomoDroppedAtQueue)
                    {
                        o.Sending.QueueCapacity = 1;
                    }

                    if (mode == Mode.MatomoCountingLargeBatches)
                    {
                        o.Sending.BatchSize = 1000;
                    }
                });
                builder.Services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
                break;
            case Mode.EmptyInterceptor:
                builder.Services.AddSingleton<EmptyInterceptor>();
                builder.Services.AddGrpc(o => o.Interceptors.Add<EmptyInterceptor>());
                break;
            case Mode.NaivePerCallPost:
                builder.Services.AddSingleton(new NaiveTarget(trackerUrl));
                builder.Services.AddGrpc(o => o.Interceptors.Add<NaiveMatomoInterceptor>());
                break;
            case Mode.OpenTelemetry:
                activities = new CountingCollection<Activity>();
                builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing
                    .AddAspNetCoreInstrumentation()
                    .AddInMemoryExporter(activities));
                builder.Services.AddGrpc();
                break;
        }

        var app = builder.Build();
        if (mode == Mode.MatomoDownSpool)
        {
            // The stand-in stays down for the host's life: its spool is never replayed, so it goes with the host.
            var directory = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<MatomoOptions>>().Value.Spool.Directory!;
            app.Lifetime.ApplicationStopped.Register(() => Directory.Delete(directory, recursive: true));
        }

        app.MapGrpcService<GreeterService>();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new GreeterHost(app, address, activities);
    }

    /// <summary>Waits (up to <paramref name="timeout"/>) until the sender took every queued hit and finished its batch.</summary>
    public async Task WaitForSenderAsync(TimeSpan timeout)
    {
        if (Tracker is not { } tracker)
        {
            return;
        }

        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            var s = tracker.Statistics;
            if (s.QueueLength == 0 && s.Sent + s.Rejected + s.Dropped >= s.Queued)
            {
                return;
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Stops the host (the Matomo sender drains within its shutdown timeout).</summary>
    public Task StopAsync() => _app.StopAsync();

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
