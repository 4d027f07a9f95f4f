using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Greet;
using Grpc.Net.Client;
using Matomo.Rpc.LoadTest;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Capacity;

/// <summary>
/// The hits Matomo.Rpc sends in the benchmark, one per visitor, as captured from its own bulk requests (the Greeter host,
/// default options, the benchmark's callers' addresses): so that the bulk client can send hits of the same shape.
/// </summary>
internal static class RpcShape
{
    /// <summary>One query per visitor (the order of <c>127.0.0.2</c>, <c>127.0.0.3</c>, ...), without <c>idsite</c>, <c>cdt</c> and <c>rand</c>.</summary>
    public static async Task<IReadOnlyList<string>> CaptureAsync(int visitors)
    {
        var captured = new ConcurrentQueue<string>();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        await using var endpoint = builder.Build();
        endpoint.MapPost("/matomo.php", async (HttpContext context) =>
        {
            using var json = await JsonDocument.ParseAsync(context.Request.Body);
            var count = 0;
            foreach (var request in json.RootElement.GetProperty("requests").EnumerateArray())
            {
                captured.Enqueue(request.GetString()!);
                count++;
            }

            return Results.Json(new { status = "success", tracked = count, invalid = 0 });
        });
        await endpoint.StartAsync();
        var url = endpoint.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/matomo.php";

        var queries = new string[visitors];
        var host = await GreeterHost.StartAsync(Mode.Matomo, url, o =>
        {
            o.SiteId = 1;
            o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
        });
        await using (host)
        {
            for (var v = 0; v < visitors; v++)
            {
                using var channel = GrpcChannel.ForAddress(host.Address, new GrpcChannelOptions { HttpHandler = RpcRun.BoundHandler(RpcRun.VisitorAddress(v)) });
                await new Greeter.GreeterClient(channel).SayHelloAsync(new HelloRequest { Name = "capacity" });
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                string? query;
                while (!captured.TryDequeue(out query))
                {
                    if (DateTime.UtcNow > deadline)
                    {
                        throw new TimeoutException("Matomo.Rpc sent no hit to the capture endpoint within 30 s");
                    }

                    await Task.Delay(20);
                }

                queries[v] = Strip(query);
            }

            await host.StopAsync();
        }

        await endpoint.StopAsync();
        return queries;
    }

    /// <summary>A captured query for the bulk client: the site and the time are the request's own (set per hit).</summary>
    private static string Strip(string query) => string.Join('&', query.TrimStart('?').Split('&')
        .Where(p => !p.StartsWith("idsite=", StringComparison.Ordinal) && !p.StartsWith("cdt=", StringComparison.Ordinal) && !p.StartsWith("rand=", StringComparison.Ordinal)));
}
