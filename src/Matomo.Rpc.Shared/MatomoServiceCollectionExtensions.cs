using System.Diagnostics.Metrics;
using Matomo.Rpc;
using Matomo.Rpc.Internal;
using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Matomo tracking.</summary>
public static class MatomoServiceCollectionExtensions
{
    private const string GrpcInterceptorTypeName = "Matomo.Rpc.Grpc.MatomoInterceptor, Matomo.Rpc.Grpc";

    private static readonly string[] AdapterSections = ["Http"];

    /// <summary>
    /// Adds Matomo tracking configured from <paramref name="configuration"/> (usually the <c>Matomo</c> section).
    /// Unknown keys and invalid values fail at start-up with a message naming the key. Calling it again adds no services.
    /// </summary>
    public static MatomoTrackingBuilder AddMatomoTracking(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        // Checked key by key before binding: a typo or a value that does not convert fails the start naming the key and the fix.
        // Matomo:Http belongs to the HTTP adapter (Matomo.Rpc.AspNetCore), which binds and checks it itself.
        var core = new ConfigurationWithoutSections(configuration, AdapterSections);
        services.AddOptions<MatomoOptions>().Configure(o => MatomoConfigurationBinder.Bind(core, o));
        services.AddSingleton<IOptionsChangeTokenSource<MatomoOptions>>(new ConfigurationChangeTokenSource<MatomoOptions>(Microsoft.Extensions.Options.Options.DefaultName, configuration));
        var builder = AddCore(services);
        return new MatomoTrackingBuilder(builder.Services, builder.HttpClient, configuration);
    }

    /// <summary>Adds Matomo tracking configured in code. Calling it again adds no services (the configuration adds up).</summary>
    public static MatomoTrackingBuilder AddMatomoTracking(this IServiceCollection services, Action<MatomoOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<MatomoOptions>().Configure(configure);
        return AddCore(services);
    }

    /// <summary>
    /// Keeps hits in an <see cref="InMemoryMatomoSink"/> (a singleton) instead of sending them, encoded exactly as they
    /// would be sent: for tests of your own services.
    /// </summary>
    public static MatomoTrackingBuilder UseInMemorySink(this MatomoTrackingBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton<InMemoryMatomoSink>();
        builder.Services.Replace(ServiceDescriptor.Singleton<IHitWriter>(sp => new InMemoryHitWriter(sp.GetRequiredService<InMemoryMatomoSink>())));
        builder.Services.PostConfigure<MatomoOptions>(o =>
        {
            if (string.IsNullOrEmpty(o.TrackerUrl))
            {
                o.LogOnly = true;
            }
        });
        return builder;
    }

    /// <summary>
    /// Adds a health check of the tracking pipeline: degraded when sends to Matomo have failed for longer than
    /// <c>Matomo:Sending:DegradedAfter</c>, for that long after a hit was dropped, while more than half the queue capacity
    /// waits to be sent, while hits wait in the spool and Matomo fails, or when the Matomo check found data loss.
    /// </summary>
    public static IHealthChecksBuilder AddMatomoTracking(this IHealthChecksBuilder builder, string name = "matomo", IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(
            name,
            sp => new MatomoHealthCheck(
                sp.GetRequiredService<MatomoTracker>(),
                sp.GetRequiredService<HitQueue>(),
                sp.GetRequiredService<TrackingState>(),
                sp.GetRequiredService<SendHealth>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetService<HitSpool>()),
            HealthStatus.Degraded,
            tags));
    }

    private static MatomoTrackingBuilder AddCore(IServiceCollection services)
    {
        var httpClient = services.AddHttpClient(MatomoTracker.HttpClientName, client =>
        {
            // The sender applies Matomo:Sending:HttpTimeout itself, on the TimeProvider.
            client.Timeout = Timeout.InfiniteTimeSpan;
        });

        // The factory's default logging writes four Information lines per bulk request and a stack trace per failed
        // one; the sender logs what matters once. An app that wants them adds its own (httpClient.AddDefaultLogger()).
        httpClient.RemoveAllLoggers();

        if (services.Any(d => d.ServiceType == typeof(MatomoTracker)))
        {
            return new MatomoTrackingBuilder(services, httpClient);
        }

        services.AddOptions<MatomoOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MatomoOptions>, MatomoOptionsValidator>());
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);

        services.TryAddSingleton<TrackingState>();
        services.TryAddSingleton(SampleSource.Shared);
        services.TryAddSingleton(sp => new HitQueue(Options(sp), sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new SendHealth(
            sp.GetRequiredService<HitQueue>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<MatomoSender>()));
        services.TryAddSingleton(sp =>
        {
            var options = Options(sp);
            return new HitSpool(
                SpoolSettings.From(options.Spool, sp.GetService<IHostEnvironment>()?.ContentRootPath),
                options.Sending.BatchSize,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger<MatomoSender>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<IMeterFactory>(),
                sp.GetRequiredService<HitQueue>().Metrics);
        });
        services.TryAddSingleton(sp => new MatomoTracker(
            Options(sp),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<HitQueue>(),
            sp.GetRequiredService<ILogger<MatomoTracker>>(),
            sp.GetRequiredService<SampleSource>()));

        // grpc-dotnet creates an interceptor that is not a service once per call, resolving its dependencies each time;
        // the gRPC adapter's holds nothing but the tracker, so one instance serves every call. Named, not referenced: the
        // core knows no adapter, and an app without the gRPC package has no such type.
        if (Type.GetType(GrpcInterceptorTypeName, throwOnError: false) is { } grpcInterceptor)
        {
            services.TryAddSingleton(grpcInterceptor);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CapacityMonitor>(sp => new CapacityMonitor(
            Options(sp),
            sp.GetRequiredService<HitQueue>(),
            sp.GetRequiredService<TrackingState>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<CapacityMonitor>())));
        services.TryAddSingleton<IHitWriter>(sp =>
        {
            var options = Options(sp);
            if (options.LogOnly)
            {
                return new LogHitWriter(sp.GetRequiredService<ILoggerFactory>().CreateLogger("Matomo.Rpc.Hits"));
            }

            var endpoint = MatomoOptionsValidator.ResolveEndpoint(options.TrackerUrl!, out _)!;
            return new HttpBulkWriter(sp.GetRequiredService<IHttpClientFactory>(), endpoint, options, sp.GetRequiredService<TimeProvider>());
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, MatomoSender>(sp =>
        {
            var options = Options(sp);
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger<MatomoSender>();
            var state = sp.GetRequiredService<TrackingState>();
            var queue = sp.GetRequiredService<HitQueue>();
            var time = sp.GetRequiredService<TimeProvider>();
            var encoder = new HitEncoder(options, new VisitorIdGenerator(options.VisitorIdSalt), state, logger);
            var health = sp.GetRequiredService<SendHealth>();
            var spool = sp.GetRequiredService<HitSpool>();
            var delivery = new HitDelivery(sp.GetRequiredService<IHitWriter>(), encoder, queue, options, state, health, time, logger, spool);
            return new MatomoSender(queue, delivery, options, time, logger, spool, health);
        }));
        services.TryAddSingleton(sp => new MatomoSiteCheck(
            Options(sp),
            sp.GetRequiredService<IHttpClientFactory>(),
            sp.GetRequiredService<TrackingState>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<MatomoSiteCheck>>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, MatomoCheckService>(sp => new MatomoCheckService(
            sp.GetRequiredService<MatomoSiteCheck>(),
            Options(sp),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<MatomoCheckService>())));

        return new MatomoTrackingBuilder(services, httpClient);
    }

    private static MatomoOptions Options(IServiceProvider services) => services.GetRequiredService<IOptions<MatomoOptions>>().Value;
}
