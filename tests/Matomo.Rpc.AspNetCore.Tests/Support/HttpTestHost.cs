using System.Globalization;
using System.Net;
using Greet;
using Grpc.Net.Client;
using Matomo.Rpc.Grpc;
using Matomo.Rpc.SignalR;
using Matomo.Rpc.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>What a test changes in <see cref="HttpTestHost"/>.</summary>
public sealed class HttpTestHostOptions
{
    /// <summary>Extra keys of the <c>Matomo</c> configuration section, e.g. <c>Http:KeepQuery</c>.</summary>
    public Dictionary<string, string?> Configuration { get; } = [];

    public Action<MatomoOptions>? Matomo { get; set; }

    public Action<MatomoHttpOptions>? Http { get; set; }

    /// <summary>Middleware between routing and the tracking (so outside it), e.g. an exception handler.</summary>
    public Action<WebApplication>? BeforeTracking { get; set; }

    /// <summary>Middleware after the tracking (so inside it), e.g. static files.</summary>
    public Action<WebApplication>? AfterTracking { get; set; }

    public Action<WebApplication>? Endpoints { get; set; }

    /// <summary>Where MatomoInterceptor is registered: in grpc-dotnet's global options (the default), for TestGreeter only, or nowhere.</summary>
    public string GrpcInterceptor { get; set; } = "global";

    /// <summary>grpc-dotnet's options (the interceptor is already added), e.g. a small MaxReceiveMessageSize.</summary>
    public Action<global::Grpc.AspNetCore.Server.GrpcServiceOptions>? Grpc { get; set; }

    /// <summary>grpc-dotnet's server builder, e.g. to add JSON transcoding.</summary>
    public Action<global::Grpc.AspNetCore.Server.IGrpcServerBuilder>? GrpcServer { get; set; }

    public string? WebRoot { get; set; }
}

/// <summary>
/// A real ASP.NET Core app on Kestrel (127.0.0.1, HTTP/1.1 on one port, HTTP/2 cleartext for gRPC on another) with
/// HTTP endpoints, a gRPC service and a SignalR hub, all tracked into a Matomo stand-in, and real clients for each.
/// </summary>
public sealed class HttpTestHost : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private HttpTestHost(WebApplication app, Uri web, Uri grpc)
    {
        App = app;
        Web = web;
        GrpcAddress = grpc;
        Client = new HttpClient { BaseAddress = web, Timeout = Timeout };
        Channel = GrpcChannel.ForAddress(grpc);
        Greeter = new Greeter.GreeterClient(Channel);
    }

    public WebApplication App { get; }

    public Uri Web { get; }

    /// <summary>The HTTP/2 cleartext address the gRPC channel uses.</summary>
    public Uri GrpcAddress { get; }

    public HttpClient Client { get; }

    public GrpcChannel Channel { get; }

    public Greeter.GreeterClient Greeter { get; }

    public MatomoTracker Tracker => App.Services.GetRequiredService<MatomoTracker>();

    public CompletedRequests Completed => App.Services.GetRequiredService<CompletedRequests>();

    public TestGates Gates => App.Services.GetRequiredService<TestGates>();

    public static async Task<HttpTestHost> StartAsync(MatomoStandIn matomo, Action<HttpTestHostOptions>? configure = null, ILoggerProvider? logs = null, LogLevel logLevel = LogLevel.Trace)
    {
        var options = new HttpTestHostOptions();
        configure?.Invoke(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { WebRootPath = options.WebRoot });
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs).SetMinimumLevel(logLevel);
        }

        builder.Host.UseDefaultServiceProvider(o =>
        {
            o.ValidateScopes = true;
            o.ValidateOnBuild = true;
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1);
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2);
        });

        var settings = new Dictionary<string, string?>
        {
            ["Matomo:TrackerUrl"] = matomo.TrackerUrl,
            ["Matomo:SiteId"] = matomo.SiteId.ToString(CultureInfo.InvariantCulture),
            ["Matomo:Sending:FlushInterval"] = "00:00:00.020",
            ["Matomo:Sending:RetryBaseDelay"] = "00:00:00.050",
            ["Matomo:Sending:RetryMaxDelay"] = "00:00:00.200",
            ["Matomo:Check:Enabled"] = "false",
        };
        foreach (var (key, value) in options.Configuration)
        {
            settings["Matomo:" + key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        builder.Services.AddSingleton<CompletedRequests>();
        builder.Services.AddSingleton<TestGates>();
        builder.Services.AddHealthChecks();
        var tracking = builder.Services.AddMatomoTracking(configuration.GetSection(MatomoOptions.SectionName)).AddHttpTracking(options.Http);
        if (options.Matomo is { } matomoOptions)
        {
            tracking.Services.Configure(matomoOptions);
        }

        var grpc = builder.Services.AddGrpc(o =>
        {
            if (options.GrpcInterceptor == "global")
            {
                o.Interceptors.Add<MatomoInterceptor>();
            }

            options.Grpc?.Invoke(o);
        });
        if (options.GrpcInterceptor == "service")
        {
            grpc.AddServiceOptions<TestGreeter>(o => o.Interceptors.Add<MatomoInterceptor>());
        }

        options.GrpcServer?.Invoke(grpc);
        builder.Services.AddSignalR(o => o.AddFilter<MatomoHubFilter>());

        var app = builder.Build();
        var completed = app.Services.GetRequiredService<CompletedRequests>();
        app.Use((context, next) =>
        {
            completed.Add(context);
            return next(context);
        });
        options.BeforeTracking?.Invoke(app);
        app.UseMatomoTracking();
        options.AfterTracking?.Invoke(app);
        TestEndpoints.Map(app);
        options.Endpoints?.Invoke(app);
        await app.StartAsync().WaitAsync(Timeout);

        var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.ToList();
        return new HttpTestHost(app, new Uri(addresses[0]), new Uri(addresses[1]));
    }

    public HubConnection CreateHubConnection() =>
        new HubConnectionBuilder().WithUrl(new Uri(Web, TestEndpoints.HubPath)).Build();

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Channel.Dispose();
        await App.StopAsync().WaitAsync(Timeout);
        await App.DisposeAsync();
    }
}
