using System.Diagnostics;
using Greet;
using Grpc.Core;
using Grpc.Health.V1;
using Matomo.Rpc.Grpc.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.Grpc.Tests;

/// <summary>
/// End to end against the Matomo stand-in: a real Kestrel gRPC host with the interceptor, a real Grpc.Net.Client
/// channel, and hits as Matomo stores them; plus Matomo slow or down, which must not slow or fail a call.
/// </summary>
public class GrpcMatomoStandInTests
{
    private static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(30);

    private MatomoStandIn _matomo = null!;
    private GrpcTestHost _host = null!;

    [SetUp]
    public async Task SetUp()
    {
        _matomo = await MatomoStandIn.StartAsync().WaitAsync(TestTimeouts.Default);
        _host = await GrpcTestHost.StartAsync(services =>
        {
            services.AddMatomoTracking(o =>
            {
                o.TrackerUrl = _matomo.TrackerUrl;
                o.SiteId = _matomo.SiteId;
                o.TokenAuth = _matomo.Token;
                o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
                o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(200);
                o.Sending.RetryMaxDelay = TimeSpan.FromSeconds(1);
            });
            services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
        });
    }

    [TearDown]
    public async Task TearDown()
    {
        await _host.DisposeAsync();
        await _matomo.DisposeAsync();
    }

    private static string[] Stored(StoredHit hit) => [.. hit.CustomVariables.Select(c => c.Key + "=" + c.Value)];

    [Test]
    public async Task EveryCallKind_StoredByMatomoWithOutcomeKindMessagesAndCaller()
    {
        await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(TestTimeouts.Default);
        using (var stream = _host.Greeter.SayHelloStream(new HelloRequest { Name = "Ada", Count = 2 }))
        {
            await stream.ResponseStream.ReadAllAsync().ToListAsync().AsTask().WaitAsync(TestTimeouts.Default);
        }

        using (var many = _host.Greeter.SayHelloToMany())
        {
            await many.RequestStream.WriteAsync(new HelloRequest { Name = "a" }).WaitAsync(TestTimeouts.Default);
            await many.RequestStream.WriteAsync(new HelloRequest { Name = "b" }).WaitAsync(TestTimeouts.Default);
            await many.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Default);
            await many.ResponseAsync.WaitAsync(TestTimeouts.Default);
        }

        using (var chat = _host.Greeter.Chat())
        {
            foreach (var name in new[] { "a", "b", "c" })
            {
                await chat.RequestStream.WriteAsync(new HelloRequest { Name = name }).WaitAsync(TestTimeouts.Default);
            }

            await chat.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Default);
            await chat.ResponseStream.ReadAllAsync().ToListAsync().AsTask().WaitAsync(TestTimeouts.Default);
        }

        var hits = await _matomo.WaitForHitsAsync(4, StoreTimeout).WaitAsync(StoreTimeout);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "greet.Greeter/SayHello", "greet.Greeter/SayHelloStream", "greet.Greeter/SayHelloToMany", "greet.Greeter/Chat" }));
        Assert.That(Stored(hits[0]), Is.EqualTo(new[] { "status=OK (0)", "kind=unary" }));
        Assert.That(Stored(hits[1]), Is.EqualTo(new[] { "status=OK (0)", "kind=server_streaming", "messages=in=1 out=2" }));
        Assert.That(Stored(hits[2]), Is.EqualTo(new[] { "status=OK (0)", "kind=client_streaming", "messages=in=2 out=1" }));
        Assert.That(Stored(hits[3]), Is.EqualTo(new[] { "status=OK (0)", "kind=duplex_streaming", "messages=in=3 out=3" }));
        foreach (var hit in hits)
        {
            Assert.That(hit["url"], Is.EqualTo($"https://{_host.Authority}/{hit["action_name"]}"));
            Assert.That(hit["idsite"], Is.EqualTo("1"));
            Assert.That(hit["cip"], Is.EqualTo("127.0.0.1"));
            Assert.That(hit["ua"], Does.StartWith("grpc-dotnet/"));
            Assert.That(hit.ServerTimeMs, Is.Not.Null, "pf_srv stored");
            Assert.That(hit.CustomVariablesDropped, Is.False);
            Assert.That(hit.Bulk, Is.True);
        }

        Assert.That(_matomo.Requests.Any(r => r.TokenInUrl), Is.False, "the token never travels in a URL");
    }

    [Test]
    public async Task FailedCalls_StoredByMatomoWithTheirStatus()
    {
        Assert.ThrowsAsync<RpcException>(() => _host.Greeter.SayHelloAsync(new HelloRequest { Name = "notfound" }).ResponseAsync.WaitAsync(TestTimeouts.Default));
        Assert.ThrowsAsync<RpcException>(() => _host.Greeter.SayHelloAsync(new HelloRequest { Name = "crash" }).ResponseAsync.WaitAsync(TestTimeouts.Default));
        Assert.ThrowsAsync<RpcException>(() => _host.Greeter.SayHelloAsync(new HelloRequest { Name = "status" }).ResponseAsync.WaitAsync(TestTimeouts.Default));
        Assert.ThrowsAsync<RpcException>(() => _host.Greeter.SayHelloAsync(new HelloRequest { Name = "wait" }, deadline: DateTime.UtcNow.AddMilliseconds(500)).ResponseAsync.WaitAsync(TestTimeouts.Default));
        _host.Probe.Reset();
        using (var cts = new CancellationTokenSource())
        {
            using var call = _host.Greeter.SayHelloToMany(cancellationToken: cts.Token);
            await call.RequestStream.WriteAsync(new HelloRequest { Name = "wait" }).WaitAsync(TestTimeouts.Default);
            await _host.Probe.Waiting.WaitAsync(TestTimeouts.Default);
            await cts.CancelAsync();
            Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(TestTimeouts.Default));
        }

        var hits = await _matomo.WaitForHitsAsync(5, StoreTimeout).WaitAsync(StoreTimeout);

        var byStatus = hits.Select(h => string.Join(" ", Stored(h))).ToArray();
        Assert.That(byStatus, Is.EquivalentTo(new[]
        {
            "status=NotFound (5) kind=unary error=RpcException",
            "status=Unknown (2) kind=unary error=InvalidOperationException",
            "status=FailedPrecondition (9) kind=unary",
            "status=DeadlineExceeded (4) kind=unary error=TaskCanceledException",
            "status=Cancelled (1) kind=client_streaming messages=in=1 out=0 error=TaskCanceledException",
        }));
    }

    [Test]
    public async Task HealthCheckAndWatch_NotStoredByMatomo()
    {
        await _host.Health.CheckAsync(new HealthCheckRequest()).ResponseAsync.WaitAsync(TestTimeouts.Default);
        using (var cts = new CancellationTokenSource())
        {
            using var watch = _host.Health.Watch(new HealthCheckRequest(), cancellationToken: cts.Token);
            Assert.That(await watch.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestTimeouts.Default), Is.True);
            await cts.CancelAsync();
        }

        await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "after" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hits = await _matomo.WaitForHitsAsync(1, StoreTimeout).WaitAsync(StoreTimeout);

        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "greet.Greeter/SayHello" }));
        Assert.That(_host.Services.GetRequiredService<MatomoTracker>().Statistics.Queued, Is.EqualTo(1));
    }

    [Test]
    public async Task SayHello_MatomoAnswersAfter2Seconds_CallsAreNotSlowedAndHitsAreStoredLater()
    {
        _matomo.Latency = TimeSpan.FromSeconds(2);
        var durations = new List<TimeSpan>();

        for (var i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            var reply = await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "slow" + i }).ResponseAsync.WaitAsync(TestTimeouts.Default);
            durations.Add(watch.Elapsed);
            Assert.That(reply.Message, Is.EqualTo("Hello slow" + i));
            if (i == 0)
            {
                // Matomo stores a hit before its slow answer: the other calls are made while the sender waits for it.
                await _matomo.WaitForHitsAsync(1, StoreTimeout);
            }
        }

        TestContext.Out.WriteLine("call durations with Matomo answering after 2 s: " + string.Join(", ", durations.Select(d => $"{d.TotalMilliseconds:F1} ms")));
        Assert.That(durations, Has.All.LessThan(TimeSpan.FromSeconds(1)));
        var hits = await _matomo.WaitForHitsAsync(5, StoreTimeout).WaitAsync(StoreTimeout);
        Assert.That(hits, Has.Count.EqualTo(5));
    }

    [Test]
    public async Task SayHello_MatomoDown_CallsSucceedWithoutDelayAndHitsAreStoredOnceItIsBack()
    {
        await _matomo.StopAsync().WaitAsync(TestTimeouts.Default);
        var tracker = _host.Services.GetRequiredService<MatomoTracker>();
        var durations = new List<TimeSpan>();

        for (var i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            var reply = await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "down" + i }).ResponseAsync.WaitAsync(TestTimeouts.Default);
            durations.Add(watch.Elapsed);
            Assert.That(reply.Message, Is.EqualTo("Hello down" + i));
            if (i == 0)
            {
                // The other calls are made while the sender retries against the Matomo that is down.
                await Eventually.TrueAsync(() => tracker.Statistics.Retried >= 1, StoreTimeout, () => tracker.Statistics.ToString());
            }
        }

        TestContext.Out.WriteLine("call durations with Matomo down: " + string.Join(", ", durations.Select(d => $"{d.TotalMilliseconds:F1} ms")));
        Assert.That(durations, Has.All.LessThan(TimeSpan.FromSeconds(1)));
        await _matomo.RestartAsync().WaitAsync(TestTimeouts.Default);
        var hits = await _matomo.WaitForHitsAsync(5, StoreTimeout).WaitAsync(StoreTimeout);
        Assert.That(hits.Select(h => h["action_name"]).Distinct(), Is.EqualTo(new[] { "greet.Greeter/SayHello" }));
        Assert.That(hits, Has.Count.EqualTo(5), "no hit lost while Matomo was down");
    }
}
