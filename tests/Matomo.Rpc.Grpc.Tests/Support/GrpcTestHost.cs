using System.Net;
using Greet;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc.Tests.Support;

/// <summary>
/// A real ASP.NET Core host on Kestrel (127.0.0.1, dynamic port, HTTP/2 cleartext) serving <see cref="TestGreeter"/> and
/// the gRPC health service, with a Grpc.Net.Client channel to it. The caller registers gRPC (and Matomo) as an app would.
/// </summary>
public sealed class GrpcTestHost : IAsyncDisposable
{
    private GrpcTestHost(WebApplication app, Uri address, ListLoggerProvider logs)
    {
        App = app;
        Address = address;
        Logs = logs;
        Channel = GrpcChannel.ForAddress(address);
        Greeter = new Greeter.GreeterClient(Channel);
        Health = new Health.HealthClient(Channel);
    }

    public WebApplication App { get; }

    public IServiceProvider Services => App.Services;

    public Uri Address { get; }

    /// <summary>The host and port, as the tracked URLs show them.</summary>
    public string Authority => Address.Authority;

    public ListLoggerProvider Logs { get; }

    public GrpcChannel Channel { get; }

    public Greeter.GreeterClient Greeter { get; }

    public Health.HealthClient Health { get; }

    public GreeterProbe Probe => Services.GetRequiredService<GreeterProbe>();

    public InMemoryMatomoSink Sink => Services.GetRequiredService<InMemoryMatomoSink>();

    /// <param name="configureServices">Registers gRPC (<c>AddGrpc(...)</c>) and, usually, Matomo tracking.</param>
    /// <param name="configureApp">Adds middleware before the gRPC endpoints, e.g. forwarded headers.</param>
    public static async Task<GrpcTestHost> StartAsync(Action<IServiceCollection> configureServices, Action<WebApplication>? configureApp = null)
    {
        ArgumentNullException.ThrowIfNull(configureServices);
        var logs = new ListLoggerProvider();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        // Fail on a singleton that captures a scoped service, as Development hosts do.
        builder.Host.UseDefaultServiceProvider(o =>
        {
            o.ValidateScopes = true;
            o.ValidateOnBuild = true;
        });
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddSingleton<GreeterProbe>();
        builder.Services.AddGrpcHealthChecks();
        configureServices(builder.Services);

        var app = builder.Build();
        configureApp?.Invoke(app);
        app.MapGrpcService<TestGreeter>();
        app.MapGrpcHealthChecksService();
        await app.StartAsync().WaitAsync(TestTimeouts.Default);

        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new GrpcTestHost(app, new Uri(address), logs);
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await App.StopAsync().WaitAsync(TestTimeouts.Default);
        await App.DisposeAsync();
    }
}
