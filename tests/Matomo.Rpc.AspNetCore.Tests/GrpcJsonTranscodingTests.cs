using System.Net;
using System.Text;
using System.Text.Json;
using Matomo.Rpc.AspNetCore.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.AspNetCore.Tests;

/// <summary>
/// gRPC JSON transcoding (Microsoft.AspNetCore.Grpc.JsonTranscoding) with the interceptor and <c>UseMatomoTracking</c>: its
/// routes carry grpc-dotnet's method metadata and its own call context, and it answers a request it cannot read with an
/// HTTP status and a JSON status body, never a <c>grpc-status</c>.
/// </summary>
public sealed class GrpcJsonTranscodingTests : StandInTests
{
    private const string Path = "/v1/say";
    private static readonly TimeSpan Timeout = HttpTestHost.Timeout;


    private Task<HttpTestHost> StartAsync(Action<HttpTestHostOptions>? configure = null) =>
        HttpTestHost.StartAsync(StandIn, o =>
        {
            o.GrpcServer = g => g.AddJsonTranscoding();
            o.Endpoints = app => app.MapGrpcService<TestEcho>();
            configure?.Invoke(o);
        }, Logs);

    private bool AdapterTrackedAGrpcCall() => Logs.Entries.Any(e => e.EventId.Name == "GrpcCallNotSeenByInterceptor");

    /// <summary>POSTs <paramref name="body"/> to the transcoded route; returns the HTTP status and the JSON body's <c>code</c> (null on success).</summary>
    private static async Task<(HttpStatusCode Http, int? Code)> PostAsync(HttpTestHost host, string body, string contentType = "application/json")
    {
        using var content = new StringContent(body, Encoding.UTF8, contentType);
        using var response = await host.Client.PostAsync(Path, content).WaitAsync(Timeout);
        var text = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(text);
        return (response.StatusCode, json.RootElement.TryGetProperty("code", out var code) ? code.GetInt32() : null);
    }

    private async Task<StoredHit> SingleHitAsync(HttpTestHost host)
    {
        await host.Completed.WaitForAsync(Path, Timeout);
        var hits = await StandIn.WaitForHitsAsync(1, Timeout);
        await Eventually.TrueAsync(() => host.Tracker.Statistics.Sent == 1, Timeout, () => host.Tracker.Statistics.ToString());
        var statistics = host.Tracker.Statistics;
        Assert.That((statistics.Queued, statistics.Sent, statistics.Rejected, statistics.Dropped), Is.EqualTo((1L, 1L, 0L, 0L)), "calls = sent + rejected + dropped");
        Assert.That(StandIn.Hits, Has.Count.EqualTo(1));
        return hits[0];
    }

    private static string[] Variables(StoredHit hit) => [.. hit.CustomVariables.Select(c => c.Key + ": " + c.Value)];

    [Test]
    public async Task Post_TranscodedCall_TrackedOnceByTheInterceptor()
    {
        await using var host = await StartAsync();

        var answer = await PostAsync(host, """{"text":"a","times":2}""");

        Assert.That(answer, Is.EqualTo((HttpStatusCode.OK, (int?)null)));
        var hit = await SingleHitAsync(host);
        Assert.That(hit["action_name"], Is.EqualTo("transcoded.Echo/Say"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: OK (0)", "kind: unary" }));
        Assert.That(AdapterTrackedAGrpcCall(), Is.False);
    }

    [Test]
    public async Task Post_TranscodedCallSampledOut_NotTrackedAndCountedOnce()
    {
        await using var host = await StartAsync(o =>
        {
            o.Configuration["Sampling:Rate"] = "0";
            o.Configuration["Sampling:KeepErrors"] = "false";
        });

        var answer = await PostAsync(host, """{"text":"a"}""");
        await host.Completed.WaitForAsync(Path, Timeout);

        Assert.That(answer.Http, Is.EqualTo(HttpStatusCode.OK));
        var statistics = host.Tracker.Statistics;
        Assert.That((statistics.Queued, statistics.SampledOut), Is.EqualTo((0L, 1L)), "the interceptor's decision, not made again by the HTTP adapter");
        Assert.That(AdapterTrackedAGrpcCall(), Is.False);
    }

    [TestCase("{not json", "application/json", TestName = "Post_TranscodedBodyNotJson_TrackedOnceWithTheStatusTheClientGot")]
    [TestCase("""{"text":"a"}""", "text/plain", TestName = "Post_TranscodedBodyNotAJsonContentType_TrackedOnceWithTheStatusTheClientGot")]
    public async Task Post_TranscodedRequestUnreadable_TrackedOnceWithTheStatusTheClientGot(string body, string contentType)
    {
        await using var host = await StartAsync();

        var answer = await PostAsync(host, body, contentType);

        Assert.That(answer, Is.EqualTo((HttpStatusCode.BadRequest, (int?)3)), "InvalidArgument, as HTTP 400");
        var hit = await SingleHitAsync(host);
        Assert.That(hit["action_name"], Is.EqualTo("transcoded.Echo/Say"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: InvalidArgument (3)", "kind: unary" }));
        Assert.That(AdapterTrackedAGrpcCall(), Is.True);
    }
}
