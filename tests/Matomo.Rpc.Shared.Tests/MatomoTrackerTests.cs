using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.Shared.Tests;

[TestFixture]
public class MatomoTrackerTests
{
    [TestCase("greet.Greeter/SayHello", "greet.Greeter/SayHello")]
    [TestCase("greet.Greeter/SayHello", "/greet.Greeter/SayHello")]
    [TestCase("/greet.Greeter/SayHello", "greet.Greeter/SayHello")]
    [TestCase("/greet.Greeter/SayHello", "/greet.Greeter/SayHello")]
    public void StartCall_ExactExclusion_WithOrWithoutLeadingSlash_Null(string configured, string called)
    {
        using var harness = new TrackerHarness(o => o.ExcludedActions.Add(configured));

        var call = harness.Tracker.StartCall(called, MatomoCallKind.Unary);

        Assert.That(call, Is.Null);
        Assert.That(harness.Tracker.IsExcluded(called, MatomoCallKind.Unary), Is.True);
        Assert.That(harness.Tracker.StartCall("greet.Greeter/SayHelloAgain", MatomoCallKind.Unary), Is.Not.Null);
    }

    [Test]
    public void StartCall_PatternExclusion_MatchingOnlyExcluded()
    {
        using var harness = new TrackerHarness(o => o.ExcludedPatterns.Add(@"^internal\..*/Ping$"));

        Assert.That(harness.Tracker.StartCall("internal.Admin/Ping", MatomoCallKind.Unary), Is.Null);
        Assert.That(harness.Tracker.IsExcluded("/internal.Admin/Ping", MatomoCallKind.Unary), Is.True);
        Assert.That(harness.Tracker.StartCall("internal.Admin/Pong", MatomoCallKind.Unary), Is.Not.Null);
        Assert.That(harness.Tracker.IsExcluded("internal.Admin/Pong", MatomoCallKind.Unary), Is.False);
    }

    [TestCase("grpc.health.v1.Health/Check")]
    [TestCase("grpc.health.v1.Health/Watch")]
    [TestCase("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")]
    [TestCase("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")]
    public void StartCall_GrpcInfrastructure_ExcludedByDefaultTrackedWhenOff(string action)
    {
        using var byDefault = new TrackerHarness();
        using var off = new TrackerHarness(o => o.ExcludeGrpcInfrastructure = false);

        Assert.That(byDefault.Tracker.StartCall(action, MatomoCallKind.Unary), Is.Null);
        Assert.That(off.Tracker.StartCall(action, MatomoCallKind.Unary), Is.Not.Null);
    }

    [Test]
    public void StartCall_AllowedKinds_OthersExcluded()
    {
        using var harness = new TrackerHarness(o => o.AllowedCallKinds.AddRange([MatomoCallKind.Unary, MatomoCallKind.HubInvocation]));

        Assert.That(harness.Tracker.StartCall("a/b", MatomoCallKind.Unary), Is.Not.Null);
        Assert.That(harness.Tracker.StartCall("a/b", MatomoCallKind.HubInvocation), Is.Not.Null);
        Assert.That(harness.Tracker.StartCall("a/b", MatomoCallKind.ServerStreaming), Is.Null);
        Assert.That(harness.Tracker.IsExcluded("a/b", MatomoCallKind.HubConnect), Is.True);
    }

    [Test]
    public void StartCall_IgnoredKindAlsoAllowed_IgnoredWins()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.AllowedCallKinds.Add(MatomoCallKind.HubConnect);
            o.IgnoredCallKinds.Add(MatomoCallKind.HubConnect);
            o.IgnoredCallKinds.Add(MatomoCallKind.HubDisconnect);
        });

        Assert.That(harness.Tracker.StartCall("Hub/connect", MatomoCallKind.HubConnect), Is.Null);
        Assert.That(harness.Tracker.StartCall("Hub/x", MatomoCallKind.Unary), Is.Null, "only HubConnect was allowed");
    }

    [Test]
    public void StartCall_IgnoredKindsOnly_OthersTracked()
    {
        using var harness = new TrackerHarness(o => o.IgnoredCallKinds.Add(MatomoCallKind.HubDisconnect));

        Assert.That(harness.Tracker.StartCall("Hub/disconnect", MatomoCallKind.HubDisconnect), Is.Null);
        Assert.That(harness.Tracker.StartCall("Hub/Send", MatomoCallKind.HubInvocation), Is.Not.Null);
    }

    [Test]
    public void StartCall_LeadingSlash_ActionAndUrlWithoutIt()
    {
        using var harness = new TrackerHarness();

        var call = harness.Tracker.StartCall("/greet.Greeter/SayHello", MatomoCallKind.Unary)!;
        call.Complete();

        var hit = harness.TakeHit();
        Assert.That(call.Action, Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(hit.ActionName, Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(hit.UrlPath, Is.EqualTo("/greet.Greeter/SayHello"));
    }

    [Test]
    public void StartCall_UrlPathGiven_UsedForUrl()
    {
        using var harness = new TrackerHarness();

        harness.Tracker.StartCall("ChatHub/Send", MatomoCallKind.HubInvocation, "/hubs/chat/Send")!.Complete();

        Assert.That(harness.TakeHit().UrlPath, Is.EqualTo("/hubs/chat/Send"));
    }

    [Test]
    public void StartCall_ActionDetailsActionName_Renames()
    {
        using var harness = new TrackerHarness(o => o.ActionDetails["greet.Greeter/SayHello"] = new() { ["action_name"] = "Greeting" });

        harness.Tracker.StartCall("/greet.Greeter/SayHello", MatomoCallKind.Unary)!.Complete();

        Assert.That(harness.TakeHit().ActionName, Is.EqualTo("Greeting"));
    }

    [Test]
    public void ReadCaller_Request_ReadsAddressHeadersHostAndScheme()
    {
        using var harness = new TrackerHarness();
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse("192.0.2.10");
        context.Request.Scheme = "https";
        context.Request.Host = new HostString("api.example.org:8443");
        context.Request.Headers.UserAgent = "grpc-dotnet/2.80";
        context.Request.Headers.AcceptLanguage = "de-CH";
        context.Request.Headers.Referer = "https://ref/";

        var caller = harness.Tracker.ReadCaller(context);

        Assert.That(caller.RemoteAddress, Is.EqualTo(IPAddress.Parse("192.0.2.10")));
        Assert.That(caller.UserAgent, Is.EqualTo("grpc-dotnet/2.80"));
        Assert.That(caller.Language, Is.EqualTo("de-CH"));
        Assert.That(caller.Referrer, Is.EqualTo("https://ref/"));
        Assert.That(caller.Host, Is.EqualTo("api.example.org:8443"));
        Assert.That(caller.Scheme, Is.EqualTo("https"));
        Assert.That(caller.UserId, Is.Null);
        Assert.That(caller.VisitorKey, Is.Null);
    }

    [Test]
    public void ReadCaller_UserIdentity_AuthenticatedNameOnly()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);
        var signedIn = new DefaultHttpContext { User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "alice")], "test")) };
        var anonymous = new DefaultHttpContext();

        Assert.That(harness.Tracker.ReadCaller(signedIn).UserId, Is.EqualTo("alice"));
        Assert.That(harness.Tracker.ReadCaller(anonymous).UserId, Is.Null);
    }

    [Test]
    public void ReadCaller_HeaderIdentity_HeaderValueAsVisitorKey()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Header;
            o.VisitorIdHeader = "x-client-id";
        });
        var context = new DefaultHttpContext();
        context.Request.Headers["x-client-id"] = "client-7";

        Assert.That(harness.Tracker.ReadCaller(context).VisitorKey, Is.EqualTo("client-7"));
        Assert.That(harness.Tracker.ReadCaller(new DefaultHttpContext()).VisitorKey, Is.Null);
    }

    [Test]
    public void StartCall_ManyActionsEachCallANewString_EachScopeHasItsOwnAction()
    {
        // More actions than the recent actions' slots, every call with a new string object (as grpc-dotnet passes its
        // method): each call must get its own action's details, whether found in a slot by value, by reference or in the
        // dictionary (the oracle: the action asked for, renamed or excluded as configured).
        var actions = Enumerable.Range(0, 300).Select(i => $"/svc.S{i % 17}/M{i}").ToArray();
        using var harness = new TrackerHarness(o =>
        {
            o.ActionDetails["svc.S3/M3"] = new() { ["action_name"] = "Renamed" };
            o.ExcludedActions.Add("svc.S5/M5");
        });
        var wrong = new List<string>();

        for (var round = 0; round < 3; round++)
        {
            foreach (var action in actions)
            {
                var scope = harness.Tracker.StartCall(new string(action.AsSpan()), MatomoCallKind.Unary);
                if (action == "/svc.S5/M5")
                {
                    if (scope is not null)
                    {
                        wrong.Add(action + " not excluded");
                    }

                    continue;
                }

                scope!.Complete();
                var hit = harness.TakeHit();
                var expectedName = action == "/svc.S3/M3" ? "Renamed" : action[1..];
                if (scope.Action != action[1..] || hit.ActionName != expectedName || hit.UrlPath != action)
                {
                    wrong.Add($"{action}: {scope.Action}, {hit.ActionName}, {hit.UrlPath}");
                }
            }
        }

        Assert.That(wrong, Is.Empty);
    }

    [Test]
    public void StartCall_SameActionWithAndWithoutSlash_BothNormalisedAlike()
    {
        using var harness = new TrackerHarness();

        var withSlash = harness.Tracker.StartCall("/greet.Greeter/SayHello", MatomoCallKind.Unary)!;
        var without = harness.Tracker.StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary)!;
        var again = harness.Tracker.StartCall(new string("/greet.Greeter/SayHello".AsSpan()), MatomoCallKind.Unary)!;

        Assert.That(new[] { withSlash.Action, without.Action, again.Action }, Is.All.EqualTo("greet.Greeter/SayHello"));
    }
}
