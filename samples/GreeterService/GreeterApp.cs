using GreeterService.Hubs;
using GreeterService.Services;
using Matomo.Rpc;
using Matomo.Rpc.AspNetCore;
using Matomo.Rpc.Grpc;
using Matomo.Rpc.SignalR;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.SignalR;

namespace GreeterService;

/// <summary>Builds the sample: the Greeter over gRPC, the chat hub over SignalR and two HTTP endpoints, all tracked in Matomo.</summary>
public static class GreeterApp
{
    public const string HubPath = "/hubs/chat";

    /// <param name="args">Command-line arguments (configuration overrides such as --Matomo:SiteId=3).</param>
    /// <param name="customize">Lets the demo change configuration and logging before the services are added.</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? customize = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        customize?.Invoke(builder);

        // Matomo: the "Matomo" section of appsettings.json, environment variables (Matomo__TrackerUrl, Matomo__SiteId,
        // Matomo__TokenAuth, ...) and the command line, in the usual ASP.NET Core order.
        // AddHttpTracking: plain HTTP endpoints too, with the options of Matomo:Http.
        builder.Services.AddMatomoTracking(builder.Configuration.GetSection(MatomoOptions.SectionName)).AddHttpTracking();

        // With no tracker URL the sample writes each hit to the log instead of sending it, so it runs anywhere.
        builder.Services.PostConfigure<MatomoOptions>(options =>
        {
            if (string.IsNullOrWhiteSpace(options.TrackerUrl))
            {
                options.LogOnly = true;
            }
        });

        builder.Services.AddGrpc(options => options.Interceptors.Add<MatomoInterceptor>());
        builder.Services.AddSignalR(options => options.AddFilter<MatomoHubFilter>());

        // The gRPC health service reports the app's health checks, the Matomo pipeline's among them. Matomo's check is
        // at worst Degraded, which still answers SERVING: tracking never takes the service out of rotation.
        // Calls to grpc.health.v1.Health are not tracked (Matomo:ExcludeGrpcInfrastructure, on by default).
        builder.Services.AddGrpcHealthChecks().AddMatomoTracking();

        var app = builder.Build();

        // After routing (a WebApplication routes first on its own): every HTTP request that is not a gRPC call or a hub
        // request becomes one hit named by its route pattern, e.g. "GET /hello/{name}". /health is left out by default.
        // A gRPC call to a method or service the app does not implement, which no interceptor sees, is tracked here too,
        // as "greet.Greeter/(unimplemented)" or "(unimplemented)" with the status the client got, Unimplemented (12).
        app.UseMatomoTracking();

        app.MapGrpcService<GreeterRpcService>();
        app.MapGrpcHealthChecksService();

        // The same checks over HTTP, as JSON with each check's description and data: curl http://127.0.0.1:5051/health
        // (a Degraded check still answers 200; only Unhealthy answers 503, and Matomo's check is never Unhealthy).
        app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = HealthJson.WriteAsync });
        app.MapHub<ChatHub>(HubPath);
        app.MapGet("/", () => "GreeterService: gRPC Greeter (greet.proto) on the Grpc endpoint, SignalR hub at " + HubPath + " and HTTP endpoints (health at /health) on this one.");

        // A minimal-API endpoint: text.
        app.MapGet("/hello/{name}", (string name) => "Hello " + name);

        // A JSON endpoint, without a controller; it uses the per-request API like the gRPC service does.
        app.MapGet("/api/greetings/{name}", (string name, HttpContext http) =>
        {
            if (string.IsNullOrWhiteSpace(name) || name.Length > 100)
            {
                return Results.BadRequest(new { error = "name must be 1 to 100 characters" });
            }

            http.AddMatomoCustomVariable("name length", name.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return Results.Json(new Greeting(name, "Hello " + name));
        });
        return app;
    }
}

/// <summary>What the JSON endpoint answers.</summary>
public sealed record Greeting(string Name, string Message);
