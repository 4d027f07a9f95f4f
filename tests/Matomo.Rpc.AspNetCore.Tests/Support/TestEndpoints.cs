using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>The endpoints of <see cref="HttpTestHost"/>: HTTP endpoints of every shape, a gRPC service and a hub.</summary>
public static class TestEndpoints
{
    public const string HubPath = "/hubs/test";

    public static void Map(WebApplication app)
    {
        app.MapGet("/users/{id}", (string id) => "user " + id);
        app.MapPost("/users", () => Results.Created("/users/1", new { id = 1 }));
        app.MapDelete("/users/{id}", (string id) => Results.NoContent());
        app.MapGet("/missing/{id:int}", (int id) => Results.NotFound());
        app.MapGet("/crash", IResult () => throw new InvalidOperationException("the endpoint failed"));
        app.MapGet("/private", () => "not tracked");
        app.MapGet("/skip", (HttpContext http) =>
        {
            http.SkipMatomoTracking();
            return "skipped";
        });
        app.MapGet("/vars", (HttpContext http) =>
        {
            http.SetMatomoVar("dimension4", "gold");
            http.SetMatomoVar("pf_dm1", "12");
            http.AddMatomoCustomVariable("tenant", "acme");
            using (http.MeasureMatomoPerf("pf_dm2"))
            {
                return "vars";
            }
        });

        // Waits until the client aborts; tells the test when it is waiting.
        app.MapGet("/wait/{key}", async (string key, HttpContext http, TestGates gates) =>
        {
            gates[key].Arrive();
            await Task.Delay(System.Threading.Timeout.Infinite, http.RequestAborted);
        });

        // Streams a first chunk, waits for the test, then streams the last one.
        app.MapGet("/stream/{key}", async (string key, HttpContext http, TestGates gates) =>
        {
            http.Response.ContentType = "text/plain";
            await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes("first\n"), http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
            gates[key].Arrive();
            await gates[key].WaitReleasedAsync(http.RequestAborted);
            await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes("last\n"), http.RequestAborted);
        });

        // The reliability suite's requests: one per caller and sequence number, and any path at all.
        app.MapGet("/seq/{caller}/{n:int}", (HttpContext http, string caller, int n) =>
        {
            http.AddMatomoCustomVariable("caller", caller);
            http.AddMatomoCustomVariable("seq", n.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return "ok";
        });
        app.MapMethods("/echo/{**rest}", ["GET", "POST", "PUT", "DELETE", "PATCH"], (HttpContext http) =>
        {
            if (http.Request.Headers["x-hostile-var"].ToString() is { Length: > 0 } value)
            {
                http.AddMatomoCustomVariable(value, value);
                http.SetMatomoVar("dimension9", value);
            }

            return "ok";
        });

        app.MapHealthChecks("/health");
        app.MapGrpcService<TestGreeter>();
        app.MapHub<TestHub>(HubPath);
    }
}
