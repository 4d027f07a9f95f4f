using System.Net;
using System.Security.Claims;
using Matomo.Rpc.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>
/// A real ASP.NET Core host (Kestrel on 127.0.0.1, dynamic port) with SignalR and Matomo tracking that sends to a Matomo
/// stand-in: <c>ChatHub</c> at <c>/hubs/chat</c> (tracked) and <c>PlainHub</c> at <c>/hubs/plain</c>.
/// </summary>
public sealed class SignalRTestHost : IAsyncDisposable
{
    public const string ChatPath = "/hubs/chat";
    public const string PlainPath = "/hubs/plain";
    public const string OptOutPath = "/hubs/optout";
    public const string UserHeader = "X-Test-User";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly WebApplication _app;
    private readonly List<HubConnection> _connections = [];

    private SignalRTestHost(WebApplication app, Uri baseUri, CollectingLoggerProvider logs)
    {
        _app = app;
        BaseUri = baseUri;
        Logs = logs;
    }

    /// <summary>The host's address, e.g. <c>http://127.0.0.1:54321</c>.</summary>
    public Uri BaseUri { get; }

    /// <summary>Warnings and errors the host logged.</summary>
    public CollectingLoggerProvider Logs { get; }

    public IServiceProvider Services => _app.Services;

    public MatomoTracker Tracker => _app.Services.GetRequiredService<MatomoTracker>();

    public Rendezvous Rendezvous => _app.Services.GetRequiredService<Rendezvous>();

    public ConnectionLog Connections => _app.Services.GetRequiredService<ConnectionLog>();

    public StreamGate Gate => _app.Services.GetRequiredService<StreamGate>();

    public static Task<SignalRTestHost> StartAsync(
        MatomoStandIn matomo,
        FilterRegistration registration = FilterRegistration.PerHub,
        Action<MatomoOptions>? configure = null,
        bool registerTracking = true,
        ILoggerProvider? capture = null,
        LogLevel captureLevel = LogLevel.Information,
        Action<WebApplication>? configureApp = null)
    {
        ArgumentNullException.ThrowIfNull(matomo);
        return StartAsync(matomo.TrackerUrl, matomo.SiteId, registration, configure, registerTracking, capture, captureLevel, configureApp);
    }

    /// <summary>The same host sending to any Matomo, e.g. a real one (tests/Matomo.Rpc.RealMatomo.Tests); <c>configureSignalR</c> adds to SignalR, e.g. the MessagePack protocol.</summary>
    public static async Task<SignalRTestHost> StartAsync(
        string trackerUrl,
        int siteId,
        FilterRegistration registration = FilterRegistration.PerHub,
        Action<MatomoOptions>? configure = null,
        bool registerTracking = true,
        ILoggerProvider? capture = null,
        LogLevel captureLevel = LogLevel.Information,
        Action<WebApplication>? configureApp = null,
        Action<ISignalRServerBuilder>? configureSignalR = null)
    {
        var logs = new CollectingLoggerProvider();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders().AddProvider(logs);
        if (capture is not null)
        {
            builder.Logging.AddProvider(capture).SetMinimumLevel(captureLevel);
        }

        builder.Services.AddSingleton<Rendezvous>();
        builder.Services.AddSingleton<ConnectionLog>();
        builder.Services.AddSingleton<StreamGate>();
        if (registerTracking)
        {
            builder.Services.AddMatomoTracking(o =>
            {
                o.TrackerUrl = trackerUrl;
                o.SiteId = siteId;
                o.AllowTokenOverHttp = true;
                o.AssumeHttps = false;
                o.Sending.FlushInterval = TimeSpan.FromMilliseconds(20);
                o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
                o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(1);
                configure?.Invoke(o);
            });
        }

        var signalR = registration == FilterRegistration.PerHub
            ? builder.Services.AddSignalR(o => o.MaximumParallelInvocationsPerClient = 2)
                .AddHubOptions<ChatHub>(o => o.AddFilter<MatomoHubFilter>())
                .AddHubOptions<OptOutHub>(o => o.AddFilter<MatomoHubFilter>())
            : builder.Services.AddSignalR(o =>
            {
                o.MaximumParallelInvocationsPerClient = 2;
                o.AddFilter<MatomoHubFilter>();
            });
        configureSignalR?.Invoke(signalR);
        if (registration == FilterRegistration.GlobalSingleton)
        {
            builder.Services.AddSingleton<MatomoHubFilter>();
        }

        var app = builder.Build();

        // Stands in for authentication: the X-Test-User header signs the request in as that user.
        app.Use((context, next) =>
        {
            if (context.Request.Headers[UserHeader].ToString() is { Length: > 0 } user)
            {
                context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user)], "test"));
            }

            return next(context);
        });
        configureApp?.Invoke(app);
        app.MapHub<ChatHub>(ChatPath);
        app.MapHub<PlainHub>(PlainPath);
        app.MapHub<OptOutHub>(OptOutPath);
        await app.StartAsync().WaitAsync(Timeout);

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new SignalRTestHost(app, new Uri(address), logs);
    }

    /// <summary>
    /// A client connection over <paramref name="transport"/>, disposed with the host. Its <c>Referer</c> header is
    /// <paramref name="tag"/>, so its hits are told apart by <c>urlref</c>.
    /// </summary>
    public HubConnection CreateConnection(string path, HttpTransportType transport, string tag, IReadOnlyDictionary<string, string>? headers = null)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(BaseUri, path), transport, o =>
            {
                o.Headers["Referer"] = tag;
                foreach (var (name, value) in headers ?? new Dictionary<string, string>())
                {
                    o.Headers[name] = value;
                }
            })
            .Build();
        lock (_connections)
        {
            _connections.Add(connection);
        }

        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        HubConnection[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        foreach (var connection in connections)
        {
            await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
        }

        await _app.StopAsync().WaitAsync(Timeout);
        await _app.DisposeAsync().AsTask().WaitAsync(Timeout);
    }
}
