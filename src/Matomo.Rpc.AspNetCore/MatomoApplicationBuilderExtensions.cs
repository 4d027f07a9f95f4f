using Matomo.Rpc.AspNetCore;
using Matomo.Rpc.AspNetCore.Internal;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds Matomo tracking of plain HTTP requests to the request pipeline.</summary>
public static class MatomoApplicationBuilderExtensions
{
    // Set by UseRouting, and by WebApplication (which runs routing first on its own).
    private const string RoutingKey = "__EndpointRouteBuilder";
    private const string GlobalRoutingKey = "__GlobalEndpointRouteBuilder";

    /// <summary>
    /// Tracks every HTTP request that is not a gRPC call or a SignalR hub request (those are tracked by
    /// <c>MatomoInterceptor</c> and <c>MatomoHubFilter</c>) as one Matomo hit, sent in the background once the response
    /// has been sent or the request aborted. The action is the method and the route pattern, <c>GET /users/{id}</c>
    /// (<c>GET (unmatched)</c> when no endpoint matched); the URL is the raw path; the status, kind (<c>http</c>) and
    /// method are recorded like the gRPC status. A gRPC call to a method or service the app does not implement, which
    /// grpc-dotnet answers before any interceptor, is tracked here as <c>greet.Greeter/(unimplemented)</c> (or
    /// <c>(unimplemented)</c>) with the gRPC status the client got; so is a call to a method the interceptor is
    /// registered for that grpc-dotnet fails before the interceptor runs (its request message too large or undecodable,
    /// a bad encoding or content type), as the method (<c>greet.Greeter/SayHello</c>). Place it after routing (a <see cref="WebApplication"/>
    /// routes first on its own) and before the endpoints; exception handlers placed before it are seen as the client sees them.
    /// </summary>
    /// <example>
    /// <code>
    /// builder.Services.AddMatomoTracking(builder.Configuration.GetSection("Matomo")).AddHttpTracking();
    /// var app = builder.Build();
    /// app.UseRouting();
    /// app.UseMatomoTracking();
    /// app.MapGet("/users/{id}", (int id) => ...);
    /// </code>
    /// </example>
    /// <param name="app">The application builder.</param>
    /// <returns>The application builder.</returns>
    /// <exception cref="InvalidOperationException">
    /// <c>AddHttpTracking</c> was not called on the services, or routing does not run before this middleware.
    /// </exception>
    public static IApplicationBuilder UseMatomoTracking(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.ApplicationServices.GetService<HttpTrackingMarker>() is null)
        {
            throw new InvalidOperationException(
                "Matomo tracking of HTTP requests is not registered: call builder.Services.AddMatomoTracking(...).AddHttpTracking() before UseMatomoTracking().");
        }

        if (!app.Properties.ContainsKey(RoutingKey) && !app.Properties.ContainsKey(GlobalRoutingKey))
        {
            throw new InvalidOperationException(
                "UseMatomoTracking() needs the request's endpoint: call app.UseRouting() before app.UseMatomoTracking() (a WebApplication routes first on its own).");
        }

        return app.UseMiddleware<MatomoHttpMiddleware>();
    }
}
