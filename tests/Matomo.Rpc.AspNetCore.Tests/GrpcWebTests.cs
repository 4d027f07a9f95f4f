using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Greet;
using Matomo.Rpc.AspNetCore.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.AspNetCore.Builder;

namespace Matomo.Rpc.AspNetCore.Tests;

/// <summary>
/// gRPC-Web (Grpc.AspNetCore.Web) calls over HTTP/1.1 with the interceptor and <c>UseMatomoTracking</c>, with
/// <c>UseGrpcWeb</c> outside the tracking or inside it: a call the interceptor saw is tracked once by it, one grpc-dotnet
/// fails before it once by the HTTP adapter, with the status the client got.
/// </summary>
public sealed class GrpcWebTests : StandInTests
{
    private const int MaxReceive = 64;
    private const string Path = "/greet.Greeter/SayHello";
    private static readonly TimeSpan Timeout = HttpTestHost.Timeout;


    private Task<HttpTestHost> StartAsync(bool grpcWebOutside) =>
        HttpTestHost.StartAsync(StandIn, o =>
        {
            o.Grpc = g => g.MaxReceiveMessageSize = MaxReceive;
            Action<WebApplication> grpcWeb = app => app.UseGrpcWeb(new GrpcWebOptions { DefaultEnabled = true });
            if (grpcWebOutside)
            {
                o.BeforeTracking = grpcWeb;
            }
            else
            {
                o.AfterTracking = grpcWeb;
            }
        }, Logs);

    private bool AdapterTrackedAGrpcCall() => Logs.Entries.Any(e => e.EventId.Name == "GrpcCallNotSeenByInterceptor");

    private static string[] Variables(StoredHit hit) => [.. hit.CustomVariables.Select(c => c.Key + ": " + c.Value)];

    /// <summary>A gRPC-Web call to SayHello over HTTP/1.1; returns the HTTP status and the grpc-status (headers, else the body's trailers frame).</summary>
    private static async Task<(HttpStatusCode Http, string? Grpc)> CallAsync(HttpTestHost host, string name)
    {
        var message = new HelloRequest { Name = name }.ToByteArray();
        var frame = new byte[5 + message.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), message.Length);
        message.CopyTo(frame, 5);
        using var client = new HttpClient { Timeout = Timeout };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(host.Web, Path))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc-web");
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();
        if (response.Headers.TryGetValues("grpc-status", out var values))
        {
            return (response.StatusCode, values.Single());
        }

        // The trailers frame (flag 0x80) holds "grpc-status: N" lines.
        var text = System.Text.Encoding.ASCII.GetString(body);
        var at = text.IndexOf("grpc-status:", StringComparison.Ordinal);
        return (response.StatusCode, at < 0 ? null : text[(at + 12)..].Split('\r', '\n')[0].Trim());
    }

    private async Task<StoredHit> SingleHitAsync(HttpTestHost host)
    {
        await host.Completed.WaitForAsync(Path, Timeout);
        Assert.That(host.Tracker.Statistics.Queued, Is.EqualTo(1), "hits queued once the request completed");
        var hits = await StandIn.WaitForHitsAsync(1, Timeout);
        await Eventually.TrueAsync(() => host.Tracker.Statistics.Sent == 1, Timeout, () => host.Tracker.Statistics.ToString());
        Assert.That(StandIn.Hits, Has.Count.EqualTo(1));
        return hits[0];
    }

    [TestCase(true, TestName = "GrpcWebCall_UseGrpcWebOutsideTheTracking_TrackedOnceByTheInterceptor")]
    [TestCase(false, TestName = "GrpcWebCall_UseGrpcWebInsideTheTracking_TrackedOnceByTheInterceptor")]
    public async Task GrpcWebCall_TrackedOnceByTheInterceptor(bool grpcWebOutside)
    {
        await using var host = await StartAsync(grpcWebOutside);

        var answer = await CallAsync(host, "Ada");

        Assert.That(answer, Is.EqualTo((HttpStatusCode.OK, (string?)"0")));
        var hit = await SingleHitAsync(host);
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: OK (0)", "kind: unary" }));
        Assert.That(AdapterTrackedAGrpcCall(), Is.False);
    }

    [TestCase(true, TestName = "GrpcWebCall_RequestTooLargeUseGrpcWebOutsideTheTracking_TrackedOnceWithTheStatusTheClientGot")]
    [TestCase(false, TestName = "GrpcWebCall_RequestTooLargeUseGrpcWebInsideTheTracking_TrackedOnceWithTheStatusTheClientGot")]
    public async Task GrpcWebCall_RequestTooLarge_TrackedOnceWithTheStatusTheClientGot(bool grpcWebOutside)
    {
        await using var host = await StartAsync(grpcWebOutside);

        var answer = await CallAsync(host, new string('a', MaxReceive * 4));

        Assert.That(answer, Is.EqualTo((HttpStatusCode.OK, (string?)"8")));
        var hit = await SingleHitAsync(host);
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: ResourceExhausted (8)", "kind: unary" }));
        Assert.That(AdapterTrackedAGrpcCall(), Is.True);
    }
}
