using System.Globalization;
using Greet;
using Grpc.Core;
using Grpc.Net.Client;
using Matomo.Rpc.Grpc;
using Matomo.Rpc.Grpc.Tests.Reliability;
using Matomo.Rpc.Grpc.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.RealMatomo.Tests;

/// <summary>gRPC calls through a real client and a real host, as a real Matomo stores them.</summary>
public class GrpcRealMatomoTests : RealMatomoFixture
{
    private const string SayHello = "greet.Greeter/SayHello";
    private const string SayHelloStream = "greet.Greeter/SayHelloStream";
    private const string SayHelloToMany = "greet.Greeter/SayHelloToMany";
    private const string Chat = "greet.Greeter/Chat";

    private static readonly (string Action, string Outcome, string Kind)[] ExpectedCalls =
    [
        (SayHello, "OK (0)", "unary"),
        (SayHello, "NotFound (5)", "unary"),
        (SayHello, "Unknown (2)", "unary"),
        (SayHelloStream, "OK (0)", "server_streaming"),
        (SayHelloToMany, "OK (0)", "client_streaming"),
        (Chat, "OK (0)", "duplex_streaming"),
        (SayHelloStream, "Cancelled (1)", "server_streaming"),
        (SayHello, "DeadlineExceeded (4)", "unary"),
    ];

    [Test]
    public async Task EveryCallKind_CustomVariables_EachStoredOnceWithActionUrlOutcomeAndKind()
    {
        var site = await NewSiteAsync();
        await using var host = await StartGrpcAsync(site, TrackingToken);

        await MakeEveryKindOfCallAsync(host);
        var stats = await WaitUntilAccountedAsync(host.Services, ExpectedCalls.Length);
        var visits = await Matomo.WaitForActionsAsync(site, ExpectedCalls.Length);

        var actions = visits.SelectMany(v => v.Actions).ToList();
        TestContext.Out.WriteLine(string.Join(Environment.NewLine, actions));
        Assert.That(stats.Sent, Is.EqualTo(ExpectedCalls.Length), stats.ToString());
        Assert.That(actions.Select(a => (a.Title, a.CustomVariables["status"], a.CustomVariables["kind"])),
            Is.EquivalentTo(ExpectedCalls.Select(c => ((string?)c.Action, c.Outcome, c.Kind))));
        Assert.That(actions.Select(a => a.Type), Has.All.EqualTo("action"));
        Assert.That(actions.Select(a => a.Url), Has.All.Matches<string?>(u => u is not null && u.StartsWith("http://" + host.Authority + "/greet.Greeter/", StringComparison.Ordinal)));
        Assert.That(actions.Where(a => a.Title == SayHelloStream && a.CustomVariables["status"] == "OK (0)").Select(a => a.Url), Is.EqualTo(new[] { "http://" + host.Authority + "/" + SayHelloStream }));
    }

    [Test]
    public async Task EveryCallKind_CustomDimensions_StoredInTheDimensionsTheTestCreated()
    {
        var site = await NewSiteAsync();
        var outcome = await Matomo.CreateDimensionAsync(site, "RPC outcome");
        var kind = await Matomo.CreateDimensionAsync(site, "RPC kind");
        await using var host = await StartGrpcAsync(site, TrackingToken, o =>
        {
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Outcome = outcome;
            o.Dimensions.CallKind = kind;
        });

        await MakeEveryKindOfCallAsync(host);
        await WaitUntilAccountedAsync(host.Services, ExpectedCalls.Length);
        var visits = await Matomo.WaitForActionsAsync(site, ExpectedCalls.Length);

        var actions = visits.SelectMany(v => v.Actions).ToList();
        Assert.That(actions.Select(a => (a.Title, a.Field("dimension" + outcome), a.Field("dimension" + kind))),
            Is.EquivalentTo(ExpectedCalls.Select(c => ((string?)c.Action, (string?)c.Outcome, (string?)c.Kind))));
        Assert.That(actions.Select(a => a.CustomVariables.Count), Has.All.EqualTo(0), "Recording=CustomDimensions sends no custom variables");
    }

    [Test]
    public async Task PageView_ServerTime_StoredAsTimeServerWithTheCallsTime()
    {
        RealMatomo.RequireOrIgnore("MATOMO_SQL");
        var site = await NewSiteAsync();
        await using var host = await StartGrpcAsync(site, TrackingToken);

        var before = DateTimeOffset.UtcNow;
        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "timed" }).ResponseAsync.WaitAsync(TestTimeouts.Default);
        var after = DateTimeOffset.UtcNow;
        await WaitUntilAccountedAsync(host.Services, 1);
        var action = (await Matomo.WaitForActionsAsync(site, 1)).Single().Actions.Single();
        var rows = await RealMatomo.SqlAsync($"select time_server from matomo_log_link_visit_action where idsite = {site}");

        Assert.That(rows, Has.Count.EqualTo(1));
        Assert.That(rows[0][0], Is.Not.EqualTo("NULL"), "pf_srv is stored as time_server for a page view");
        Assert.That(int.Parse(rows[0][0], CultureInfo.InvariantCulture), Is.InRange(0, (int)(after - before).TotalMilliseconds + 1));
        Assert.That(action.Time, Is.InRange(before.AddSeconds(-1), after.AddSeconds(1)));
    }

    [Test]
    public async Task Callers_TwoCallersAreTwoVisitorsAndOneCallerIsOneVisitor()
    {
        var site = await NewSiteAsync();
        await using var host = await StartGrpcAsync(site, TrackingToken, o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Header;
            o.VisitorIdHeader = "x-client-id";
        });

        foreach (var client in new[] { "alice", "bob", "alice", "alice", "bob" })
        {
            await host.Greeter.SayHelloAsync(new HelloRequest { Name = client }, new Metadata { { "x-client-id", client } }).ResponseAsync.WaitAsync(TestTimeouts.Default);
        }

        await WaitUntilAccountedAsync(host.Services, 5);
        var visits = await Matomo.WaitForActionsAsync(site, 5);

        TestContext.Out.WriteLine(string.Join(Environment.NewLine, visits));
        Assert.That(visits, Has.Count.EqualTo(2));
        Assert.That(visits.Select(v => v.Actions.Count), Is.EquivalentTo(new[] { 3, 2 }));
        Assert.That(visits.Select(v => v.VisitorId).Distinct().Count(), Is.EqualTo(2));
    }

    [Test]
    public async Task CallersIp_WriteToken_StoredAsTheVisitsIp()
    {
        RealMatomo.RequireOrIgnore("MATOMO_TOKEN_WRITE", "MATOMO_WRITE_LOGIN");
        var site = await NewSiteAsync();
        await using var host = await StartForwardingHostAsync(site, RealMatomo.WriteToken);

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "ip" }, new Metadata { { "x-forwarded-for", "203.0.113.77" } }).ResponseAsync.WaitAsync(TestTimeouts.Default);
        var stats = await WaitUntilAccountedAsync(host.Services, 1);
        var visits = await Matomo.WaitForActionsAsync(site, 1);

        Assert.That(stats.Sent, Is.EqualTo(1));
        Assert.That(visits.Single().VisitIp, Is.EqualTo("203.0.113.77").Or.EqualTo("203.0.0.0").Or.EqualTo("203.0.113.0"), "the caller's address (Matomo may mask it)");
    }

    [Test]
    public async Task CallersIp_ViewToken_HitsStoredWithoutTheCallersIp()
    {
        RealMatomo.RequireOrIgnore("MATOMO_TOKEN_VIEW", "MATOMO_VIEW_LOGIN");
        var site = await NewSiteAsync();
        await using var host = await StartForwardingHostAsync(site, RealMatomo.ViewToken);
        var check = await host.Services.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(RealMatomo.Patience);

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "ip" }, new Metadata { { "x-forwarded-for", "203.0.113.78" } }).ResponseAsync.WaitAsync(TestTimeouts.Default);
        var stats = await WaitUntilAccountedAsync(host.Services, 1);
        var visits = await Matomo.WaitForActionsAsync(site, 1);

        Assert.That(check.Findings.Single(f => f.Code == "token-rights").Severity, Is.EqualTo(MatomoCheckSeverity.DataLoss));
        Assert.That(stats.Sent, Is.EqualTo(1), stats.ToString());
        Assert.That(visits.Single().VisitIp, Does.Not.StartWith("203.0"));
    }

    [Test]
    public async Task PerCallValueMatomoWouldRefuse_IsRefusedByTheApiAndNeverReachesMatomo()
    {
        var site = await NewSiteAsync();
        var refusals = new ServiceCodeRefusals();
        await using var host = await GrpcTestHost.StartAsync(services =>
        {
            services.AddSingleton(refusals);
            services.AddGrpc(o =>
            {
                o.Interceptors.Add<MatomoInterceptor>();
                o.Interceptors.Add<ServiceCodeInterceptor>();
            });
            services.AddMatomoTracking(o => Track(o, site, TrackingToken));
        });

        // Each value would make Matomo refuse the hit (invalid) or, under QueuedTracking, drop the rest of the request.
        foreach (var (name, value) in new[] { ("cid", "not-a-visitor-id"), ("pf_srv", "-5"), ("cip", "203.0.113.1"), ("cdt", "2001-01-01 00:00:00"), ("idsite", "999999") })
        {
            await host.Greeter.SayHelloAsync(new HelloRequest { Name = name }, new Metadata { { ServiceCodeInterceptor.VarPrefix + name, value }, { ServiceCodeInterceptor.Caller, name } }).ResponseAsync.WaitAsync(TestTimeouts.Default);
        }

        var stats = await WaitUntilAccountedAsync(host.Services, 5);
        var visits = await Matomo.WaitForActionsAsync(site, 5);

        Assert.That(refusals.Exceptions, Has.Count.EqualTo(5).And.All.InstanceOf<ArgumentException>());
        Assert.That(stats.Sent, Is.EqualTo(5), stats.ToString());
        Assert.That(stats.Rejected, Is.Zero, stats.ToString());
        Assert.That(visits.SelectMany(v => v.Actions).Select(a => a.CustomVariables["caller"]), Is.EquivalentTo(new[] { "cid", "pf_srv", "cip", "cdt", "idsite" }));
    }

    [Test]
    public async Task CrashHit_StockMatomoAnswers500_NeverCostsTheHitsBesideItAndCountsMatchRows()
    {
        var site = await NewSiteAsync();
        await using var host = await StartGrpcAsync(site, TrackingToken, o =>
        {
            o.TrackCrashes = true;
            o.Sending.BatchSize = 50;
            o.Sending.FlushInterval = TimeSpan.FromMilliseconds(500);
            // The crash hit is retried on its own; the test does not wait for it at shutdown.
            o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(1);
        });

        // One batch: calls before and after the crash travel with the Crash Analytics hit Matomo cannot store.
        var calls = new List<Task<StatusCode>>();
        foreach (var name in new[] { "a", "b", "crash", "c", "d" })
        {
            calls.Add(StatusOfAsync(() => host.Greeter.SayHelloAsync(new HelloRequest { Name = name }).ResponseAsync.WaitAsync(TestTimeouts.Default)));
        }

        await Task.WhenAll(calls);

        // Five call hits and the failed call's Crash Analytics hit, which the sender makes and counts as queued.
        var stats = await WaitUntilAccountedAsync(host.Services, 6);
        var queued = stats.Queued;
        var visits = await Matomo.WaitForActionsAsync(site, 5);
        var actions = visits.SelectMany(v => v.Actions).ToList();

        TestContext.Out.WriteLine($"{stats}; {string.Join(" | ", actions)}");
        Assert.That(actions.Where(a => a.Type == "action").Select(a => a.CustomVariables["status"]), Is.EquivalentTo(new[] { "OK (0)", "OK (0)", "Unknown (2)", "OK (0)", "OK (0)" }));
        Assert.That(stats.Sent, Is.EqualTo(actions.Count), "every hit counted as sent is a row in Matomo");
        Assert.That(queued, Is.EqualTo(6), "the crash hit is counted as queued: " + stats);
        Assert.That(stats.Sent + stats.Rejected + stats.Dropped, Is.EqualTo(queued));
    }

    private Task<GrpcTestHost> StartForwardingHostAsync(int site, string? token) =>
        GrpcTestHost.StartAsync(
            services =>
            {
                services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
                services.AddMatomoTracking(o => Track(o, site, token));
            },
            app => app.UseForwardedHeaders(new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor }));

    private static async Task MakeEveryKindOfCallAsync(GrpcTestHost host)
    {
        var greeter = host.Greeter;
        var timeout = TestTimeouts.Default;
        Assert.That(await StatusOfAsync(() => greeter.SayHelloAsync(new HelloRequest { Name = "ok" }).ResponseAsync.WaitAsync(timeout)), Is.EqualTo(StatusCode.OK));
        Assert.That(await StatusOfAsync(() => greeter.SayHelloAsync(new HelloRequest { Name = "notfound" }).ResponseAsync.WaitAsync(timeout)), Is.EqualTo(StatusCode.NotFound));
        Assert.That(await StatusOfAsync(() => greeter.SayHelloAsync(new HelloRequest { Name = "crash" }).ResponseAsync.WaitAsync(timeout)), Is.EqualTo(StatusCode.Unknown));

        using (var stream = greeter.SayHelloStream(new HelloRequest { Name = "s", Count = 3 }))
        {
            var replies = 0;
            await foreach (var _ in stream.ResponseStream.ReadAllAsync().WithCancellation(CancellationToken.None))
            {
                replies++;
            }

            Assert.That(replies, Is.EqualTo(3));
        }

        using (var upload = greeter.SayHelloToMany())
        {
            await upload.RequestStream.WriteAsync(new HelloRequest { Name = "x" });
            await upload.RequestStream.WriteAsync(new HelloRequest { Name = "y" });
            await upload.RequestStream.CompleteAsync();
            Assert.That((await upload.ResponseAsync.WaitAsync(timeout)).Message, Is.EqualTo("Hello x, y"));
        }

        using (var chat = greeter.Chat())
        {
            await chat.RequestStream.WriteAsync(new HelloRequest { Name = "p" });
            Assert.That(await chat.ResponseStream.MoveNext().WaitAsync(timeout), Is.True);
            await chat.RequestStream.WriteAsync(new HelloRequest { Name = "q" });
            Assert.That(await chat.ResponseStream.MoveNext().WaitAsync(timeout), Is.True);
            await chat.RequestStream.CompleteAsync();
            Assert.That(await chat.ResponseStream.MoveNext().WaitAsync(timeout), Is.False);
        }

        // A stream the client cancels while the service waits in it.
        host.Probe.Reset();
        using (var cts = new CancellationTokenSource())
        using (var cancelled = greeter.SayHelloStream(new HelloRequest { Name = "wait", Count = 0 }, cancellationToken: cts.Token))
        {
            await host.Probe.Waiting.WaitAsync(timeout);
            await cts.CancelAsync();
            Assert.That(await StatusOfAsync(() => cancelled.ResponseStream.MoveNext().WaitAsync(timeout)), Is.EqualTo(StatusCode.Cancelled));
        }

        // A deadline that passes while the service waits.
        host.Probe.Reset();
        var deadline = StatusOfAsync(() => greeter.SayHelloAsync(new HelloRequest { Name = "wait" }, deadline: DateTime.UtcNow.AddMilliseconds(500)).ResponseAsync.WaitAsync(timeout));
        await host.Probe.Waiting.WaitAsync(timeout);
        Assert.That(await deadline, Is.EqualTo(StatusCode.DeadlineExceeded));
    }
}
