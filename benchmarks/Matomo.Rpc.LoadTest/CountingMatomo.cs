using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// A bulk endpoint that only counts: it answers Matomo's bulk answer (<c>tracked</c> = the number of requests) without
/// validating or storing. It stands for a Matomo on another machine, so that the tracker's own cost can be told apart
/// from the stand-in's (which validates and keeps every hit, on the same 2 cores).
/// </summary>
internal sealed class CountingMatomo : IAsyncDisposable
{
    private readonly WebApplication _app;
    private long _hits;
    private long _requests;

    private CountingMatomo(WebApplication app)
    {
        _app = app;
    }

    public string TrackerUrl { get; private set; } = string.Empty;

    public static async Task<CountingMatomo> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 64 * 1024 * 1024;
            k.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        var matomo = new CountingMatomo(app);
        app.Run(matomo.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        matomo.TrackerUrl = address.TrimEnd('/') + "/matomo.php";
        return matomo;
    }

    public (long Hits, long Requests) TakeCounts() => (Interlocked.Exchange(ref _hits, 0), Interlocked.Exchange(ref _requests, 0));

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private async Task HandleAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        var count = CountRequests(body.GetBuffer().AsSpan(0, (int)body.Length));
        Interlocked.Add(ref _hits, count);
        Interlocked.Increment(ref _requests);
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(string.Create(CultureInfo.InvariantCulture, $"{{\"status\":\"success\",\"tracked\":{count},\"invalid\":0}}"));
    }

    private static int CountRequests(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        var count = 0;
        var inRequests = false;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName when reader.CurrentDepth == 1:
                    inRequests = reader.ValueTextEquals("requests"u8);
                    break;
                case JsonTokenType.String when inRequests && reader.CurrentDepth == 2:
                    count++;
                    break;
                case JsonTokenType.EndArray when reader.CurrentDepth == 1:
                    inRequests = false;
                    break;
            }
        }

        return count;
    }
}
