using System.Security.Claims;
using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.Grpc.Tests;

/// <summary>
/// Privacy through a real host and client: opt-out in the request metadata (HTTP/2 headers), the user id claim, user id
/// pseudonyms across hosts, the referrer's query.
/// </summary>
public class GrpcPrivacyTests
{
    private const string NameIdentifier = "u-4711";
    private const string UserName = "alice.liddell@example.org";

    [TestCase("sec-gpc")]
    [TestCase("dnt")]
    public async Task Calls_OptOutMetadata_NoHitCountedEveryKind(string header)
    {
        await using var host = await StartAsync();
        var optOut = new Metadata { { header, "1" }, { "referer", "https://out.example/" } };

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }, optOut).ResponseAsync.WaitAsync(TestTimeouts.Default);
        using (var stream = host.Greeter.SayHelloStream(new HelloRequest { Name = "Ada", Count = 2 }, optOut))
        {
            while (await stream.ResponseStream.MoveNext().WaitAsync(TestTimeouts.Default))
            {
            }
        }

        using (var many = host.Greeter.SayHelloToMany(optOut))
        {
            await many.RequestStream.WriteAsync(new HelloRequest { Name = "Ada" }).WaitAsync(TestTimeouts.Default);
            await many.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Default);
            await many.ResponseAsync.WaitAsync(TestTimeouts.Default);
        }

        using (var chat = host.Greeter.Chat(optOut))
        {
            await chat.RequestStream.WriteAsync(new HelloRequest { Name = "Ada" }).WaitAsync(TestTimeouts.Default);
            await chat.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Default);
            while (await chat.ResponseStream.MoveNext().WaitAsync(TestTimeouts.Default))
            {
            }
        }

        // Hits are queued in order: once the later call's hit is there, an opted-out call's would be too.
        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }, new Metadata { { "referer", "https://in.example/" } }).ResponseAsync.WaitAsync(TestTimeouts.Default);
        var hits = await host.Sink.WaitForHitsAsync(1, TestTimeouts.Default);
        Assert.That(hits.Select(h => h["urlref"]), Is.EqualTo(new[] { "https://in.example/" }));
        var tracker = host.Services.GetRequiredService<MatomoTracker>();
        Assert.That(tracker.Statistics.OptedOut, Is.EqualTo(4));
        Assert.That(tracker.Statistics.Queued, Is.EqualTo(1));
    }

    [TestCase("sec-gpc", "0")]
    [TestCase("dnt", "0")]
    [TestCase("x-other", "1")]
    public async Task SayHello_NoOptOut_Tracked(string header, string value)
    {
        await using var host = await StartAsync();

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }, new Metadata { { header, value } }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        Assert.That(await host.Sink.WaitForHitsAsync(1, TestTimeouts.Default), Has.Count.EqualTo(1));
        Assert.That(host.Services.GetRequiredService<MatomoTracker>().Statistics.OptedOut, Is.Zero);
    }

    [Test]
    public async Task SayHello_HonorOptOutOff_Tracked()
    {
        await using var host = await StartAsync(o => o.Privacy.HonorOptOut = false);

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }, new Metadata { { "sec-gpc", "1" } }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        Assert.That(await host.Sink.WaitForHitsAsync(1, TestTimeouts.Default), Has.Count.EqualTo(1));
    }

    [TestCase(null, NameIdentifier)]
    [TestCase(ClaimTypes.NameIdentifier, NameIdentifier)]
    [TestCase(ClaimTypes.Name, UserName)]
    [TestCase(ClaimTypes.Email, "alice@mail.example")]
    public async Task SayHello_UserIdClaim_ConfiguredClaimUsed(string? claim, string expected)
    {
        await using var host = await StartAsync(
            o =>
            {
                o.VisitorIdentity = MatomoVisitorIdentity.UserId;
                o.UserId.Mode = MatomoUserIdMode.Plain;
                o.UserId.Claim = claim;
            },
            signIn: true);

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hit = (await host.Sink.WaitForHitsAsync(1, TestTimeouts.Default))[0];
        Assert.That(hit["uid"], Is.EqualTo(expected));
    }

    [Test]
    public async Task SayHello_PseudonymTwoHostsSameSalt_SameUidNameNowhere()
    {
        await using var first = await StartAsync(o => Pseudonym(o, "shared-secret"), signIn: true);
        await using var second = await StartAsync(o => Pseudonym(o, "shared-secret"), signIn: true);
        await using var other = await StartAsync(o => Pseudonym(o, "another-secret"), signIn: true);

        var uids = new List<string>();
        foreach (var host in new[] { first, second, other })
        {
            await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(TestTimeouts.Default);
            await host.Greeter.SayHelloAsync(new HelloRequest { Name = "uid" }, new Metadata { { "x-user-id", UserName } }).ResponseAsync.WaitAsync(TestTimeouts.Default);
            var hits = await host.Sink.WaitForHitsAsync(2, TestTimeouts.Default);
            Assert.That(hits.Select(h => h.Query), Has.None.Contain("alice").And.None.Contain(NameIdentifier), "the plain names in no hit");
            Assert.That(host.Logs.Entries.Select(e => e.Message), Has.None.Contain("alice"));
            uids.AddRange(hits.Select(h => h["uid"]!));
        }

        Assert.That(uids, Has.All.Match("^[0-9a-f]{32}$"));
        Assert.That(uids[2], Is.EqualTo(uids[0]), "same user (claim), same salt, another host");
        Assert.That(uids[3], Is.EqualTo(uids[1]), "same user (per-call uid), same salt, another host");
        Assert.That(uids[1], Is.Not.EqualTo(uids[0]), "another user id");
        Assert.That(uids[4], Is.Not.EqualTo(uids[0]), "another salt");
        Assert.That(uids[5], Is.Not.EqualTo(uids[1]), "another salt");
    }

    [TestCase(false, "https://app.example.org/orders")]
    [TestCase(true, "https://app.example.org/orders?email=alice%40example.org")]
    public async Task SayHello_ReferrerWithQuery_StrippedUnlessKept(bool keep, string expected)
    {
        await using var host = await StartAsync(o => o.Privacy.KeepReferrerQuery = keep);

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }, new Metadata { { "referer", "https://app.example.org/orders?email=alice%40example.org" } })
            .ResponseAsync.WaitAsync(TestTimeouts.Default);

        var hit = (await host.Sink.WaitForHitsAsync(1, TestTimeouts.Default))[0];
        Assert.That(hit["urlref"], Is.EqualTo(expected));
    }

    [Test]
    public void AspNetCoreCallContext_GrpcDotnetType_Found()
    {
        // The fast path (opt-out decided before allocating) depends on it; without it calls take the slower, correct path.
        Assert.That(MatomoInterceptor.AspNetCoreCallContext, Is.Not.Null);
    }

    [Test]
    public async Task UnaryServerHandler_OtherHostWithOptOutRequest_NoHitCounted()
    {
        await using var harness = await TrackingHarness.StartAsync();
        var http = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        http.Request.Headers["DNT"] = "1";

        var reply = await harness.Interceptor.UnaryServerHandler(new HelloRequest(), CallContexts.WithHttpContext(http), (r, c) => Task.FromResult(new HelloReply { Message = "ok" }))
            .WaitAsync(TestTimeouts.Default);

        Assert.That(reply.Message, Is.EqualTo("ok"));
        Assert.That(harness.Tracker.Statistics.OptedOut, Is.EqualTo(1));
        Assert.That(harness.Queued, Is.Zero);
    }

    private static void Pseudonym(MatomoOptions options, string salt)
    {
        options.VisitorIdentity = MatomoVisitorIdentity.UserId;
        options.VisitorIdSalt = salt;
    }

    private static Task<GrpcTestHost> StartAsync(Action<MatomoOptions>? configure = null, bool signIn = false) => GrpcTestHost.StartAsync(
        services =>
        {
            services.AddMatomoTracking(o =>
            {
                o.SiteId = 1;
                o.Sending.FlushInterval = TimeSpan.FromMilliseconds(20);
                configure?.Invoke(o);
            }).UseInMemorySink();
            services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
        },
        app =>
        {
            if (signIn)
            {
                // Stands in for authentication: a user with an id, a display name and an e-mail claim.
                app.Use((context, next) =>
                {
                    context.User = new ClaimsPrincipal(new ClaimsIdentity(
                        [new Claim(ClaimTypes.NameIdentifier, NameIdentifier), new Claim(ClaimTypes.Name, UserName), new Claim(ClaimTypes.Email, "alice@mail.example")],
                        "test"));
                    return next(context);
                });
            }
        });
}
