using System.Diagnostics;
using System.Net;
using Google.Protobuf;
using Greet;
using Grpc.Core;
using Matomo.Rpc.AspNetCore.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.SignalR.Client;

namespace Matomo.Rpc.AspNetCore.Tests;

/// <summary>
/// End to end: a real Kestrel app with HTTP endpoints, a gRPC service and a SignalR hub, real clients, and the hits as
/// the Matomo stand-in stores them.
/// </summary>
public sealed class MatomoHttpMiddlewareTests : StandInTests
{
    private static readonly TimeSpan Timeout = HttpTestHost.Timeout;


    private static string[] Variables(StoredHit hit) => [.. hit.CustomVariables.Select(c => c.Key + ": " + c.Value)];

    /// <summary>Waits until the server has completed every request made so far, then for exactly <paramref name="count"/> stored hits.</summary>
    private async Task<IReadOnlyList<StoredHit>> HitsAsync(HttpTestHost host, int count, params string[] completedPaths)
    {
        foreach (var path in completedPaths)
        {
            await host.Completed.WaitForAsync(path, Timeout);
        }

        Assert.That(host.Tracker.Statistics.Queued, Is.EqualTo(count), "hits queued once the requests completed");
        var hits = await StandIn.WaitForHitsAsync(count, Timeout);
        Assert.That(StandIn.Hits, Has.Count.EqualTo(count));
        return hits;
    }

    [Test]
    public async Task Get_RouteWithParameter_StoredAsMethodAndPatternWithRawPathWithoutQuery()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);

        var response = await host.Client.GetAsync(new Uri("/users/42?token=secret&q=1", UriKind.Relative));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("user 42"));
        var hit = (await HitsAsync(host, 1, "/users/42"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("GET /users/{id}"));
        Assert.That(hit["url"], Is.EqualTo("https://" + host.Web.Authority + "/users/42"));
        Assert.That(hit.Query, Does.Not.Contain("secret"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: 200", "kind: http", "method: GET" }));
        Assert.That(hit.ServerTimeMs, Is.Not.Null);
    }

    [Test]
    public async Task Get_KeepQuery_UrlKeepsTheQueryString()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.Configuration["Http:KeepQuery"] = "true");

        await host.Client.GetAsync(new Uri("/users/7?q=a%20b", UriKind.Relative));

        var hit = (await HitsAsync(host, 1, "/users/7"))[0];
        Assert.That(hit["url"], Is.EqualTo("https://" + host.Web.Authority + "/users/7?q=a%20b"));
        Assert.That(hit["action_name"], Is.EqualTo("GET /users/{id}"));
    }

    [Test]
    public async Task Post_Created_StoredWithMethodAndStatus201()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);

        var response = await host.Client.PostAsync(new Uri("/users", UriKind.Relative), new StringContent("{}"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        var hit = (await HitsAsync(host, 1, "/users"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("POST /users"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: 201", "kind: http", "method: POST" }));
    }

    [Test]
    public async Task Get_EndpointReturnsNotFound_Status404UnderItsRoutePattern()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);

        var response = await host.Client.GetAsync(new Uri("/missing/5", UriKind.Relative));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        var hit = (await HitsAsync(host, 1, "/missing/5"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("GET /missing/{id:int}"));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("404"));
    }

    [Test]
    public async Task Get_NoRouteMatches_StoredAsUnmatchedWith404AndTheRawPath()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);

        var response = await host.Client.GetAsync(new Uri("/no/such/page", UriKind.Relative));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        var hit = (await HitsAsync(host, 1, "/no/such/page"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("GET (unmatched)"));
        Assert.That(hit["url"], Is.EqualTo("https://" + host.Web.Authority + "/no/such/page"));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("404"));
    }

    [Test]
    public async Task Send_MethodNobodyKnows_RecordedAsOther()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);

        await host.Client.SendAsync(new HttpRequestMessage(new HttpMethod("PURGE"), new Uri("/no/such/page", UriKind.Relative)));

        var hit = (await HitsAsync(host, 1, "/no/such/page"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("OTHER (unmatched)"));
        Assert.That(hit.CustomVariable("method"), Is.EqualTo("OTHER"));
    }

    [Test]
    public async Task Get_EndpointThrows_Status500RecordedAndTheSameExceptionRethrown()
    {
        Exception? seenOutside = null;
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.BeforeTracking = app => app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception ex)
            {
                seenOutside = ex;
                throw;
            }
        }));

        var response = await host.Client.GetAsync(new Uri("/crash", UriKind.Relative));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        var hit = (await HitsAsync(host, 1, "/crash"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("GET /crash"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: 500", "kind: http", "error: InvalidOperationException", "method: GET" }));
        Assert.That(seenOutside, Is.TypeOf<InvalidOperationException>().With.Message.EqualTo("the endpoint failed"));
        Assert.That(seenOutside!.StackTrace, Does.Contain(nameof(TestEndpoints)), "rethrown with its original stack");
    }

    [Test]
    public async Task Get_EndpointThrowsUnderExceptionHandler_OneHitWithTheStatusTheClientGot()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn, o =>
        {
            o.BeforeTracking = app => app.UseExceptionHandler(new ExceptionHandlerOptions
            {
                ExceptionHandler = context =>
                {
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    return context.Response.WriteAsync("sorry");
                },
            });
        });

        var response = await host.Client.GetAsync(new Uri("/crash", UriKind.Relative));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        var hit = (await HitsAsync(host, 1, "/crash"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("GET /crash"));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("503"));
        Assert.That(hit.CustomVariable("error"), Is.EqualTo("InvalidOperationException"));
    }

    [Test]
    public async Task Get_ClientAbortsWhileTheEndpointWorks_Status499()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);
        using var abort = new CancellationTokenSource();

        var request = host.Client.GetAsync(new Uri("/wait/abort", UriKind.Relative), abort.Token);
        await host.Gates["abort"].Reached.WaitAsync(Timeout);
        await abort.CancelAsync();

        Assert.That(async () => await request, Throws.InstanceOf<OperationCanceledException>());
        var hit = (await HitsAsync(host, 1, "/wait/abort"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("GET /wait/{key}"));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("499"));
    }

    [Test]
    public async Task Get_StreamedBody_HitQueuedOnlyOnceTheBodyEndedAndDurationCoversIt()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);
        var hold = TimeSpan.FromMilliseconds(600);
        var gate = host.Gates["slow"];

        using var response = await host.Client.GetAsync(new Uri("/stream/slow", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead);
        using var body = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.That(await body.ReadLineAsync().WaitAsync(Timeout), Is.EqualTo("first"));
        await gate.Reached.WaitAsync(Timeout);
        var held = Stopwatch.StartNew();
        while (held.Elapsed < hold)
        {
            await Task.Delay(hold - held.Elapsed); // the time being measured, not a synchronisation (a timer may fire early)
        }

        Assert.That(host.Tracker.Statistics.Queued, Is.Zero, "no hit while the body is still being sent");
        gate.Release();
        Assert.That(await body.ReadToEndAsync().WaitAsync(Timeout), Is.EqualTo("last\n"));
        held.Stop();

        var hit = (await HitsAsync(host, 1, "/stream/slow"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("GET /stream/{key}"));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("200"));
        Assert.That(hit.ServerTimeMs, Is.GreaterThanOrEqualTo((long)hold.TotalMilliseconds));
    }

    [Test]
    public async Task GrpcCallAndHubInvocation_InTheSameApp_OneHitEachFromTheirOwnAdapters()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.Matomo = m =>
        {
            m.IgnoredCallKinds.Add(MatomoCallKind.HubConnect);
            m.IgnoredCallKinds.Add(MatomoCallKind.HubDisconnect);
        });

        var reply = await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(Timeout);
        await using (var hub = host.CreateHubConnection())
        {
            await hub.StartAsync().WaitAsync(Timeout);
            Assert.That(await hub.InvokeAsync<string>("Echo", "hi").WaitAsync(Timeout), Is.EqualTo("hi"));
            await hub.StopAsync().WaitAsync(Timeout);
        }

        // Every request of the hub (negotiate, then the WebSocket) and of the gRPC call has completed.
        await host.Completed.WaitForAsync("/greet.Greeter/SayHello", Timeout);
        await host.Completed.WaitForAsync(TestEndpoints.HubPath + "/negotiate", Timeout);
        await host.Completed.WaitForAsync(TestEndpoints.HubPath, Timeout);
        await host.Client.GetAsync(new Uri("/users/1", UriKind.Relative));
        var hits = await HitsAsync(host, 3, "/users/1");

        Assert.That(reply.Message, Is.EqualTo("Hello Ada"));
        Assert.That(hits.Select(h => h["action_name"] + " | " + h.CustomVariable("kind")), Is.EquivalentTo(new[]
        {
            "greet.Greeter/SayHello | unary",
            "TestHub/Echo | hub_invocation",
            "GET /users/{id} | http",
        }));
    }

    private static readonly Marshaller<HelloRequest> RequestMarshaller = Marshallers.Create(r => r.ToByteArray(), HelloRequest.Parser.ParseFrom);
    private static readonly Marshaller<HelloReply> ReplyMarshaller = Marshallers.Create(r => r.ToByteArray(), HelloReply.Parser.ParseFrom);

    /// <summary>A unary call to <paramref name="service"/>/<paramref name="method"/>, which the app may not implement; returns the status the client got.</summary>
    private static async Task<StatusCode> CallAsync(HttpTestHost host, string service, string method)
    {
        var call = host.Channel.CreateCallInvoker().AsyncUnaryCall(
            new Method<HelloRequest, HelloReply>(MethodType.Unary, service, method, RequestMarshaller, ReplyMarshaller),
            host: null,
            new CallOptions(),
            new HelloRequest { Name = "Ada" });
        try
        {
            await call.ResponseAsync.WaitAsync(Timeout);
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    [TestCase("greet.Greeter", "Nope", "greet.Greeter/(unimplemented)")]
    [TestCase("other.Service", "Nope", "(unimplemented)")]
    public async Task GrpcCall_UnimplementedMethodOrService_TrackedByTheHttpAdapterWithTheGrpcStatusTheClientGot(string service, string method, string action)
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);

        var status = await CallAsync(host, service, method);
        var reply = await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(Timeout);

        Assert.That(status, Is.EqualTo(StatusCode.Unimplemented));
        Assert.That(reply.Message, Is.EqualTo("Hello Ada"));
        var hits = await HitsAsync(host, 2, "/" + service + "/" + method, "/greet.Greeter/SayHello");
        var unimplemented = hits.Single(h => h["action_name"] == action);
        Assert.That(unimplemented["url"], Is.EqualTo("https://" + host.Channel.Target + "/" + service + "/" + method), "the real path, as for (unmatched)");
        Assert.That(Variables(unimplemented), Is.EqualTo(new[] { "status: Unimplemented (12)", "kind: http" }), "the gRPC status, no method (as gRPC hits)");
        var grpc = hits.Single(h => h != unimplemented);
        Assert.That(grpc["action_name"], Is.EqualTo("greet.Greeter/SayHello"), "the implemented method: once, by the interceptor");
        Assert.That(Variables(grpc), Does.Contain("kind: unary"));
        await Eventually.TrueAsync(() => host.Tracker.Statistics.Sent == 2, Timeout, () => host.Tracker.Statistics.ToString());
        var statistics = host.Tracker.Statistics;
        Assert.That((statistics.Queued, statistics.Sent, statistics.Rejected, statistics.Dropped), Is.EqualTo((2L, 2L, 0L, 0L)), "calls = sent");
    }

    [Test]
    public async Task GrpcCall_UnimplementedMethodSampledOut_KeptAsAnError()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.Configuration["Sampling:Actions:greet.Greeter/(unimplemented)"] = "0");

        var status = await CallAsync(host, "greet.Greeter", "Nope");

        Assert.That(status, Is.EqualTo(StatusCode.Unimplemented));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/Nope"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/(unimplemented)"));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("Unimplemented (12)"));
        Assert.That(host.Tracker.Statistics.SampledOut, Is.Zero, "an error is kept whatever the sampling");
    }

    [Test]
    public async Task GrpcCall_HttpMethodsIgnored_UnimplementedStillTrackedWithoutAMethod()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.Configuration["Http:IgnoredMethods:0"] = "POST");

        await CallAsync(host, "greet.Greeter", "Nope");

        var hit = (await HitsAsync(host, 1, "/greet.Greeter/Nope"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/(unimplemented)"));
        Assert.That(hit.CustomVariable("method"), Is.Null);
    }

    [Test]
    public async Task Get_HealthCheckEndpoint_NotTrackedByDefault()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);

        var health = await host.Client.GetAsync(new Uri("/health", UriKind.Relative));
        await host.Completed.WaitForAsync("/health", Timeout);
        await host.Client.GetAsync(new Uri("/users/1", UriKind.Relative));

        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var hits = await HitsAsync(host, 1, "/users/1");
        Assert.That(hits[0]["action_name"], Is.EqualTo("GET /users/{id}"));
    }

    [Test]
    public async Task Get_HealthCheckEndpointWithExclusionOff_Tracked()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.Configuration["Http:ExcludeHealthChecks"] = "false");

        await host.Client.GetAsync(new Uri("/health", UriKind.Relative));

        var hits = await HitsAsync(host, 1, "/health");
        Assert.That(hits[0]["action_name"], Is.EqualTo("GET /health"));
    }

    [Test]
    public async Task Get_StaticFileServedAfterTracking_NotTrackedByDefault()
    {
        var root = Directory.CreateTempSubdirectory("matomo-http-static-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "site.css"), "body { }");
            await using var host = await HttpTestHost.StartAsync(StandIn, o =>
            {
                o.WebRoot = root.FullName;
                o.AfterTracking = app => app.UseStaticFiles();
            });

            var file = await host.Client.GetAsync(new Uri("/site.css", UriKind.Relative));
            await host.Completed.WaitForAsync("/site.css", Timeout);
            await host.Client.GetAsync(new Uri("/users/1", UriKind.Relative));

            Assert.That(await file.Content.ReadAsStringAsync(), Is.EqualTo("body { }"));
            var hits = await HitsAsync(host, 1, "/users/1");
            Assert.That(hits[0]["action_name"], Is.EqualTo("GET /users/{id}"));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Test]
    public async Task Get_ExcludedActionAndPattern_NotTracked()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn, o =>
        {
            o.Configuration["ExcludedActions:0"] = "GET /private";
            o.Configuration["ExcludedPatterns:0"] = @"^GET /missing/";
        });

        await host.Client.GetAsync(new Uri("/private", UriKind.Relative));
        await host.Client.GetAsync(new Uri("/missing/3", UriKind.Relative));
        await host.Completed.WaitForAsync("/private", Timeout);
        await host.Completed.WaitForAsync("/missing/3", Timeout);
        await host.Client.GetAsync(new Uri("/users/1", UriKind.Relative));

        var hits = await HitsAsync(host, 1, "/users/1");
        Assert.That(hits[0]["action_name"], Is.EqualTo("GET /users/{id}"));
    }

    [TestCase("AllowedMethods", "GET", "POST")]
    [TestCase("IgnoredMethods", "post", "POST")]
    public async Task Request_MethodNotAllowedOrIgnored_NotTracked(string list, string configured, string sent)
    {
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.Configuration["Http:" + list + ":0"] = configured);

        await host.Client.SendAsync(new HttpRequestMessage(new HttpMethod(sent), new Uri("/users", UriKind.Relative)) { Content = new StringContent("{}") });
        await host.Completed.WaitForAsync("/users", Timeout);
        await host.Client.GetAsync(new Uri("/users/1", UriKind.Relative));

        var hits = await HitsAsync(host, 1, "/users/1");
        Assert.That(hits[0]["action_name"], Is.EqualTo("GET /users/{id}"));
    }

    [Test]
    public async Task Get_ActionDetails_RenameTheActionByItsHttpActionName()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.Configuration["ActionDetails:GET /users/{id}:action_name"] = "Users / show");

        await host.Client.GetAsync(new Uri("/users/3", UriKind.Relative));

        var hit = (await HitsAsync(host, 1, "/users/3"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("Users / show"));
    }

    [Test]
    public async Task Get_IgnoredUserAgent_NotTracked()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.Configuration["IgnoredUserAgentPatterns:0"] = "^kube-probe/");

        using (var probe = new HttpRequestMessage(HttpMethod.Get, new Uri("/users/9", UriKind.Relative)))
        {
            probe.Headers.UserAgent.ParseAdd("kube-probe/1.30");
            await host.Client.SendAsync(probe);
        }

        await host.Completed.WaitForAsync("/users/9", Timeout);
        await host.Client.GetAsync(new Uri("/users/1", UriKind.Relative));

        var hits = await HitsAsync(host, 1, "/users/1");
        Assert.That(hits[0]["url"], Does.EndWith("/users/1"));
    }

    [Test]
    public async Task Get_MethodDimension_RecordsStatusKindAndMethodInDimensions()
    {
        StandIn.Dimensions.Add(new ConfiguredDimension(1, 1));
        StandIn.Dimensions.Add(new ConfiguredDimension(2, 2));
        StandIn.Dimensions.Add(new ConfiguredDimension(3, 3));
        await using var host = await HttpTestHost.StartAsync(StandIn, o =>
        {
            o.Configuration["Recording"] = "CustomDimensions";
            o.Configuration["Dimensions:Outcome"] = "1";
            o.Configuration["Dimensions:CallKind"] = "2";
            o.Configuration["Http:MethodDimension"] = "3";
        });

        await host.Client.DeleteAsync(new Uri("/users/4", UriKind.Relative));

        var hit = (await HitsAsync(host, 1, "/users/4"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("DELETE /users/{id}"));
        Assert.That(hit.Dimensions, Is.EquivalentTo(new Dictionary<int, string> { [1] = "204", [2] = "http", [3] = "DELETE" }));
        Assert.That(hit.Has("cvar"), Is.False);
    }
}
