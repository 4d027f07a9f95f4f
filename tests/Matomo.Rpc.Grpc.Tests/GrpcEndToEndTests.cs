using System.Net;
using Google.Protobuf;
using Greet;
using Grpc.Core;
using Grpc.Health.V1;
using Matomo.Rpc.Grpc.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.Grpc.Tests;

/// <summary>
/// A real Kestrel host and a real Grpc.Net.Client channel, with the interceptor registered as users write it and hits
/// kept by the core's in-memory sink.
/// </summary>
public class GrpcEndToEndTests
{
    private GrpcTestHost _host = null!;

    [SetUp]
    public async Task SetUp() => _host = await StartTrackedHostAsync();

    [TearDown]
    public async Task TearDown() => await _host.DisposeAsync();

    private static Task<GrpcTestHost> StartTrackedHostAsync() => GrpcTestHost.StartAsync(services =>
    {
        services.AddMatomoTracking(o =>
        {
            o.SiteId = 1;
            o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
        }).UseInMemorySink();
        services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
    });

    private async Task<MatomoRecordedHit> SingleHitAsync()
    {
        var hits = await _host.Sink.WaitForHitsAsync(1, TestTimeouts.Default).WaitAsync(TestTimeouts.Default);
        Assert.That(hits, Has.Count.EqualTo(1));
        return hits[0];
    }

    [Test]
    public async Task SayHello_Unary_StoresOneHitWithActionUrlCallerAndOutcome()
    {
        var reply = await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        Assert.That(reply.Message, Is.EqualTo("Hello Ada"));
        var hit = await SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(hit["url"], Is.EqualTo($"https://{_host.Authority}/greet.Greeter/SayHello"));
        Assert.That(hit["ua"], Does.StartWith("grpc-dotnet/"));
        Assert.That(hit["cid"], Does.Match("^[0-9a-f]{16}$"));
        Assert.That(hit["bots"], Is.EqualTo("1"));
        Assert.That(hit["pf_srv"], Does.Match("^[0-9]+$"));
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=OK (0)", "kind=unary" }));
        Assert.That(hit.Hit.Caller.RemoteAddress?.ToString(), Is.EqualTo("127.0.0.1"));
    }

    [Test]
    public async Task SayHelloStream_ServerStreaming_StoresOneHitCountingTheStream()
    {
        using var call = _host.Greeter.SayHelloStream(new HelloRequest { Name = "Ada", Count = 3 });

        var replies = await call.ResponseStream.ReadAllAsync().ToListAsync().AsTask().WaitAsync(TestTimeouts.Default);

        Assert.That(replies, Has.Count.EqualTo(3));
        var hit = await SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHelloStream"));
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=OK (0)", "kind=server_streaming", "messages=in=1 out=3" }));
    }

    [Test]
    public async Task SayHelloToMany_ClientStreaming_StoresOneHitCountingTheStream()
    {
        using var call = _host.Greeter.SayHelloToMany();

        foreach (var name in new[] { "Ada", "Grace", "Linus" })
        {
            await call.RequestStream.WriteAsync(new HelloRequest { Name = name }).WaitAsync(TestTimeouts.Default);
        }

        await call.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Default);
        var reply = await call.ResponseAsync.WaitAsync(TestTimeouts.Default);

        Assert.That(reply.Message, Is.EqualTo("Hello Ada, Grace, Linus"));
        var hit = await SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHelloToMany"));
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=OK (0)", "kind=client_streaming", "messages=in=3 out=1" }));
    }

    [Test]
    public async Task Chat_Duplex_StoresOneHitWhenTheStreamEndsWithDurationOfTheWholeStream()
    {
        using var call = _host.Greeter.Chat();
        var replies = new List<string>();

        foreach (var name in new[] { "Ada", "Grace", "Linus" })
        {
            await call.RequestStream.WriteAsync(new HelloRequest { Name = name }).WaitAsync(TestTimeouts.Default);
            Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestTimeouts.Default), Is.True);
            replies.Add(call.ResponseStream.Current.Message);
            await Task.Delay(100); // the stream's length being measured, not a synchronisation
        }

        Assert.That(_host.Sink.Hits, Is.Empty, "no hit while the stream is open");
        await call.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Default);
        Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestTimeouts.Default), Is.False);

        Assert.That(replies, Is.EqualTo(new[] { "Hello Ada", "Hello Grace", "Hello Linus" }));
        var hit = await SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/Chat"));
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=OK (0)", "kind=duplex_streaming", "messages=in=3 out=3" }));
        Assert.That(int.Parse(hit["pf_srv"]!), Is.GreaterThanOrEqualTo(300), "the duration covers the whole stream");
    }

    [Test]
    public async Task SayHello_RpcException_StoresItsStatusAndClientSeesItUnchanged()
    {
        var thrown = Assert.ThrowsAsync<RpcException>(() => _host.Greeter.SayHelloAsync(new HelloRequest { Name = "notfound" }).ResponseAsync.WaitAsync(TestTimeouts.Default));

        Assert.That(thrown!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        Assert.That(thrown.Status.Detail, Is.EqualTo("No greeter for 'notfound'."));
        Assert.That(thrown.Trailers.GetValue("reason"), Is.EqualTo("unknown-name"));
        var hit = await SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=NotFound (5)", "kind=unary", "error=RpcException" }));
    }

    [Test]
    public async Task SayHello_UnhandledException_StoresUnknownWithTheExceptionType()
    {
        var thrown = Assert.ThrowsAsync<RpcException>(() => _host.Greeter.SayHelloAsync(new HelloRequest { Name = "crash" }).ResponseAsync.WaitAsync(TestTimeouts.Default));

        Assert.That(thrown!.StatusCode, Is.EqualTo(StatusCode.Unknown));
        var hit = await SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=Unknown (2)", "kind=unary", "error=InvalidOperationException" }));
    }

    // Found with Python grpcio (tests/interop/grpc-client.py, which encodes its messages by hand): a request message the
    // service cannot decode fails its read with Google.Protobuf's InvalidProtocolBufferException, an IOException like
    // Kestrel's for a reset stream; it was recorded Cancelled, while the client got Unknown (the handler's exception).
    [Test]
    public async Task SayHelloToMany_UndecodableRequestMessage_StoresUnknownAsTheClientSees()
    {
        var raw = new Method<byte[], byte[]>(MethodType.ClientStreaming, "greet.Greeter", "SayHelloToMany", Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));
        using var call = _host.Channel.CreateCallInvoker().AsyncClientStreamingCall(raw, null, new CallOptions());

        await call.RequestStream.WriteAsync(new HelloRequest { Name = "Ada" }.ToByteArray()).WaitAsync(TestTimeouts.Default);
        await call.RequestStream.WriteAsync([0xFF, 0xFF, 0xFF]).WaitAsync(TestTimeouts.Default);
        await call.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Default);
        var thrown = Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(TestTimeouts.Default));

        Assert.That(thrown!.StatusCode, Is.EqualTo(StatusCode.Unknown));
        var hit = await SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=Unknown (2)", "kind=client_streaming", "messages=in=1 out=0", "error=InvalidProtocolBufferException" }));
    }

    [Test]
    public async Task SayHello_StatusSetByService_StoresThatStatus()
    {
        var thrown = Assert.ThrowsAsync<RpcException>(() => _host.Greeter.SayHelloAsync(new HelloRequest { Name = "status" }).ResponseAsync.WaitAsync(TestTimeouts.Default));

        Assert.That(thrown!.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
        var hit = await SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=FailedPrecondition (9)", "kind=unary" }));
    }

    [Test]
    public async Task SayHello_DeadlineExceeded_StoresDeadlineExceeded()
    {
        // A first call warms the client up: a cold client can spend the whole deadline before it sends anything,
        // and then the server never sees the call.
        await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "warm-up" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var thrown = Assert.ThrowsAsync<RpcException>(() => _host.Greeter.SayHelloAsync(new HelloRequest { Name = "wait" }, deadline: DateTime.UtcNow.AddMilliseconds(500)).ResponseAsync.WaitAsync(TestTimeouts.Default));

        Assert.That(thrown!.StatusCode, Is.EqualTo(StatusCode.DeadlineExceeded));
        Assert.That(_host.Probe.Waiting.IsCompleted, Is.True, "the server was inside the call when the deadline passed");
        var hits = await _host.Sink.WaitForHitsAsync(2, TestTimeouts.Default).WaitAsync(TestTimeouts.Default);
        Assert.That(hits, Has.Count.EqualTo(2));
        Assert.That(hits[1].CustomVariables(), Is.EqualTo(new[] { "status=DeadlineExceeded (4)", "kind=unary", "error=TaskCanceledException" }));
    }

    [Test]
    public async Task SayHello_HandlerReturnsNormallyAfterItsDeadline_StoresDeadlineExceededAsTheClientSaw()
    {
        await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "warm-up" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var thrown = Assert.ThrowsAsync<RpcException>(() => _host.Greeter.SayHelloAsync(new HelloRequest { Name = "late" }, deadline: DateTime.UtcNow.AddMilliseconds(300)).ResponseAsync.WaitAsync(TestTimeouts.Default));

        Assert.That(thrown!.StatusCode, Is.EqualTo(StatusCode.DeadlineExceeded));
        Assert.That(_host.Probe.Waiting.IsCompleted, Is.True, "the server was inside the call when the deadline passed");
        var hits = await _host.Sink.WaitForHitsAsync(2, TestTimeouts.Default).WaitAsync(TestTimeouts.Default);
        Assert.That(hits, Has.Count.EqualTo(2));
        Assert.That(hits[1].CustomVariables(), Is.EqualTo(new[] { "status=DeadlineExceeded (4)", "kind=unary" }));
    }

    [Test]
    public async Task SayHello_CancelledByClient_StoresCancelled()
    {
        using var cts = new CancellationTokenSource();
        using var call = _host.Greeter.SayHelloAsync(new HelloRequest { Name = "wait" }, cancellationToken: cts.Token);
        await _host.Probe.Waiting.WaitAsync(TestTimeouts.Default);

        await cts.CancelAsync();

        var thrown = Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(TestTimeouts.Default));
        Assert.That(thrown!.StatusCode, Is.EqualTo(StatusCode.Cancelled));
        var hit = await SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=Cancelled (1)"));
    }

    [Test]
    public async Task SayHelloStream_CancelledByClientMidStream_StoresCancelledWithMessagesSoFar()
    {
        using var cts = new CancellationTokenSource();
        using var call = _host.Greeter.SayHelloStream(new HelloRequest { Name = "wait", Count = 2 }, cancellationToken: cts.Token);
        Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestTimeouts.Default), Is.True);
        Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestTimeouts.Default), Is.True);
        await _host.Probe.Waiting.WaitAsync(TestTimeouts.Default);

        await cts.CancelAsync();

        var hit = await SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=Cancelled (1)", "kind=server_streaming", "messages=in=1 out=2", "error=TaskCanceledException" }));
    }

    [Test]
    public async Task HealthCheck_CheckCall_StoresNoHit()
    {
        // The answer (Unknown until the first health report is published) does not matter: the call was served.
        await _host.Health.CheckAsync(new HealthCheckRequest()).ResponseAsync.WaitAsync(TestTimeouts.Default);
        await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "after" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hit = await SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHello"), "the health check left no hit before it");
        Assert.That(_host.Services.GetRequiredService<MatomoTracker>().Statistics.Queued, Is.EqualTo(1));
    }

    [Test]
    public async Task SayHello_PerCallApiInService_StoresTheValues()
    {
        await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "vars" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hit = await SingleHitAsync();
        Assert.That(hit["dimension1"], Is.EqualTo("from-service"));
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=OK (0)", "kind=unary", "tenant=acme" }));
    }

    [Test]
    public async Task SayHello_RequestHeaders_StoredAsLanguageAndReferrer()
    {
        var headers = new Metadata { { "accept-language", "de-CH" }, { "referer", "https://app.example.org/" } };

        await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }, headers).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hit = await SingleHitAsync();
        Assert.That(hit["lang"], Is.EqualTo("de-CH"));
        Assert.That(hit["urlref"], Is.EqualTo("https://app.example.org/"));
    }

    [Test]
    public async Task SayHello_BehindForwardedHeadersMiddleware_StoresTheForwardedClientAddress()
    {
        await using var host = await GrpcTestHost.StartAsync(
            services =>
            {
                services.AddMatomoTracking(o =>
                {
                    o.SiteId = 1;
                    o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
                }).UseInMemorySink();
                services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
            },
            app => app.UseForwardedHeaders(new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor }));

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }, new Metadata { { "x-forwarded-for", "203.0.113.9" } }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hits = await host.Sink.WaitForHitsAsync(1, TestTimeouts.Default).WaitAsync(TestTimeouts.Default);
        Assert.That(hits[0].Hit.Caller.RemoteAddress, Is.EqualTo(IPAddress.Parse("203.0.113.9")));
    }

    [Test]
    public async Task AddServiceOptions_PerServiceRegistration_TracksThatServiceOnly()
    {
        await using var host = await GrpcTestHost.StartAsync(services =>
        {
            services.AddMatomoTracking(o =>
            {
                o.SiteId = 1;
                o.ExcludeGrpcInfrastructure = false;
                o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
            }).UseInMemorySink();
            services.AddGrpc().AddServiceOptions<TestGreeter>(o => o.Interceptors.Add<MatomoInterceptor>());
        });

        await host.Health.CheckAsync(new HealthCheckRequest()).ResponseAsync.WaitAsync(TestTimeouts.Default);
        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hits = await host.Sink.WaitForHitsAsync(1, TestTimeouts.Default).WaitAsync(TestTimeouts.Default);
        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "greet.Greeter/SayHello" }), "the health service has no interceptor");
        Assert.That(host.Services.GetRequiredService<MatomoTracker>().Statistics.Queued, Is.EqualTo(1));
    }

    [Test]
    public async Task AddGrpc_InterceptorRegisteredInDi_TracksEveryCallWithTheOneInstance()
    {
        await using var host = await GrpcTestHost.StartAsync(services =>
        {
            services.AddMatomoTracking(o =>
            {
                o.SiteId = 1;
                o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
            }).UseInMemorySink();
            services.AddSingleton<MatomoInterceptor>();
            services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
        });

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "a" }).ResponseAsync.WaitAsync(TestTimeouts.Default);
        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "b" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hits = await host.Sink.WaitForHitsAsync(2, TestTimeouts.Default).WaitAsync(TestTimeouts.Default);
        Assert.That(hits, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task AddGrpc_ConfiguredFromConfigurationSection_Tracks()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Matomo:SiteId"] = "1",
                ["Matomo:Sending:FlushInterval"] = "00:00:00.050",
                ["Matomo:ExcludedActions:0"] = "greet.Greeter/Chat",
            })
            .Build();
        await using var host = await GrpcTestHost.StartAsync(services =>
        {
            services.AddMatomoTracking(configuration.GetSection("Matomo")).UseInMemorySink();
            services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
        });

        using (var chat = host.Greeter.Chat())
        {
            await chat.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Default);
            await chat.ResponseStream.ReadAllAsync().ToListAsync().AsTask().WaitAsync(TestTimeouts.Default);
        }

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hits = await host.Sink.WaitForHitsAsync(1, TestTimeouts.Default).WaitAsync(TestTimeouts.Default);
        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "greet.Greeter/SayHello" }));
    }

    [Test]
    public async Task SayHello_TrackedOnKestrel_LeavesUserStateEmptyAndServiceCodeStillReachesTheCall()
    {
        var probe = new UserStateProbe();
        await using var host = await GrpcTestHost.StartAsync(services =>
        {
            services.AddMatomoTracking(o =>
            {
                o.SiteId = 1;
                o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
            }).UseInMemorySink();
            services.AddSingleton(probe);
            services.AddGrpc(o =>
            {
                o.Interceptors.Add<MatomoInterceptor>();
                o.Interceptors.Add<UserStateProbeInterceptor>();
            });
        });

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "vars" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hits = await host.Sink.WaitForHitsAsync(1, TestTimeouts.Default).WaitAsync(TestTimeouts.Default);
        Assert.That(hits[0]["dimension1"], Is.EqualTo("from-service"));
        Assert.That(probe.CallFound, Is.True);
        Assert.That(probe.UserStateEntries, Is.Zero, "the interceptor put the call in UserState (grpc-dotnet then creates it per call)");
    }

    [Test]
    public void AddMatomoTracking_GrpcPackagePresent_RegistersOneInterceptorForEveryCall()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddMatomoTracking(o =>
        {
            o.SiteId = 1;
            o.LogOnly = true;
        });

        using var provider = services.BuildServiceProvider();
        using var scope1 = provider.CreateScope();
        using var scope2 = provider.CreateScope();

        Assert.That(services.Single(d => d.ServiceType == typeof(MatomoInterceptor)).Lifetime, Is.EqualTo(ServiceLifetime.Singleton));
        Assert.That(scope1.ServiceProvider.GetRequiredService<MatomoInterceptor>(), Is.SameAs(scope2.ServiceProvider.GetRequiredService<MatomoInterceptor>()));
    }

    [Test]
    public void AddMatomoTracking_InterceptorRegisteredByTheApp_KeepsTheAppsRegistration()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddScoped<MatomoInterceptor>();

        services.AddMatomoTracking(o => o.SiteId = 1);

        Assert.That(services.Where(d => d.ServiceType == typeof(MatomoInterceptor)).Select(d => d.Lifetime), Is.EqualTo(new[] { ServiceLifetime.Scoped }));
    }

    /// <summary>What <see cref="UserStateProbeInterceptor"/> saw inside the tracking interceptor, after the service ran.</summary>
    private sealed class UserStateProbe
    {
        public bool CallFound { get; set; }

        public int UserStateEntries { get; set; } = -1;
    }

    /// <summary>Registered after MatomoInterceptor (so inside it): looks at the call after the service ran.</summary>
    private sealed class UserStateProbeInterceptor(UserStateProbe probe) : global::Grpc.Core.Interceptors.Interceptor
    {
        public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
        {
            var response = await continuation(request, context);
            probe.CallFound = context.GetMatomoCall() is not null;

            // grpc-dotnet's UserState is the request's Items, which Kestrel creates per request on first use.
            probe.UserStateEntries = context.UserState.Count;
            return response;
        }
    }
}
