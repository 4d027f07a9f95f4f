using Matomo.Rpc.AspNetCore.Tests.Support;
using Matomo.Rpc.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.AspNetCore.Tests;

/// <summary>The per-request API on <see cref="HttpContext"/>, used by endpoints of a real app.</summary>
public sealed class MatomoHttpContextExtensionsTests : StandInTests
{
    private static readonly TimeSpan Timeout = HttpTestHost.Timeout;


    [Test]
    public async Task SetMatomoVarAndFriends_InAnEndpoint_SentWithThatRequestsHitOnly()
    {
        StandIn.Dimensions.Add(new ConfiguredDimension(4, 1));
        await using var host = await HttpTestHost.StartAsync(StandIn);

        await host.Client.GetAsync(new Uri("/vars", UriKind.Relative));
        await host.Completed.WaitForAsync("/vars", Timeout);
        await host.Client.GetAsync(new Uri("/users/1", UriKind.Relative));

        var hits = await StandIn.WaitForHitsAsync(2, Timeout);
        var vars = hits.Single(h => h["action_name"] == "GET /vars");
        Assert.That(vars.Dimensions[4], Is.EqualTo("gold"));
        Assert.That(vars["pf_dm1"], Is.EqualTo("12"));
        Assert.That(vars.Has("pf_dm2"), Is.True);
        Assert.That(vars.CustomVariables.Select(c => c.Key + ": " + c.Value), Is.EqualTo(new[] { "status: 200", "kind: http", "method: GET", "tenant: acme" }));
        var other = hits.Single(h => h["action_name"] == "GET /users/{id}");
        Assert.That(other.Has("dimension4") || other.Has("pf_dm1") || other.CustomVariable("tenant") is not null, Is.False);
    }

    [Test]
    public async Task SkipMatomoTracking_InAnEndpoint_NoHit()
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);

        var skipped = await host.Client.GetStringAsync(new Uri("/skip", UriKind.Relative));
        await host.Completed.WaitForAsync("/skip", Timeout);
        await host.Client.GetAsync(new Uri("/users/1", UriKind.Relative));
        await host.Completed.WaitForAsync("/users/1", Timeout);

        Assert.That(skipped, Is.EqualTo("skipped"));
        Assert.That(host.Tracker.Statistics.Queued, Is.EqualTo(1));
        var hits = await StandIn.WaitForHitsAsync(1, Timeout);
        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "GET /users/{id}" }));
    }

    [TestCase("Sec-GPC")]
    [TestCase("DNT")]
    public async Task Get_OptOutHeader_NoHitCounted(string header)
    {
        await using var host = await HttpTestHost.StartAsync(StandIn);
        using var optedOut = new HttpRequestMessage(HttpMethod.Get, new Uri("/users/1", UriKind.Relative));
        optedOut.Headers.Add(header, "1");

        using var response = await host.Client.SendAsync(optedOut);
        await host.Completed.WaitForAsync("/users/1", Timeout);
        await host.Client.GetAsync(new Uri("/users/2", UriKind.Relative));
        await host.Completed.WaitForAsync("/users/2", Timeout);

        Assert.That(response.IsSuccessStatusCode, Is.True);
        Assert.That(host.Tracker.Statistics.OptedOut, Is.EqualTo(1));
        Assert.That(host.Tracker.Statistics.Queued, Is.EqualTo(1));
        var hits = await StandIn.WaitForHitsAsync(1, Timeout);
        Assert.That(hits.Select(h => h["url"]), Has.One.EndsWith("/users/2").And.None.EndsWith("/users/1"));
    }

    [Test]
    public async Task GetMatomoCall_TrackedRequest_ReturnsItsCallUnderTheActionName()
    {
        string? action = null;
        MatomoCallKind? kind = null;
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.Endpoints = app => app.MapGet("/who/{name}", (HttpContext http) =>
        {
            action = http.GetMatomoCall()?.Action;
            kind = http.GetMatomoCall()?.Kind;
            return "ok";
        }));

        await host.Client.GetStringAsync(new Uri("/who/ada", UriKind.Relative));

        Assert.That(action, Is.EqualTo("GET /who/{name}"));
        Assert.That(kind, Is.EqualTo(MatomoCallKind.Http));
    }

    [TestCaseSource(typeof(ReservedNames), nameof(ReservedNames.PerCall))]
    public void SetMatomoVar_ReservedNameOnUntrackedRequest_Throws(string name)
    {
        var http = new DefaultHttpContext();

        Assert.That(() => http.SetMatomoVar(name, "1"), Throws.ArgumentException);
        Assert.That(http.GetMatomoCall(), Is.Null);
    }

    [Test]
    public void MeasureMatomoPerf_NotAPerfNameOnUntrackedRequest_Throws()
    {
        var http = new DefaultHttpContext();

        Assert.That(() => http.MeasureMatomoPerf("srv"), Throws.ArgumentException);
        Assert.That(() => http.AddMatomoCustomVariable(" ", "x"), Throws.ArgumentException);
        Assert.That(() => { using var timer = http.MeasureMatomoPerf("pf_dm1"); }, Throws.Nothing);
    }

    [Test]
    public async Task SetMatomoVar_ReservedNameOnTrackedRequest_ThrowsIntoTheEndpoint()
    {
        Exception? thrown = null;
        await using var host = await HttpTestHost.StartAsync(StandIn, o => o.Endpoints = app => app.MapGet("/bad", (HttpContext http) =>
        {
            thrown = Assert.Catch(() => http.SetMatomoVar("idsite", "2"));
            return "ok";
        }));

        await host.Client.GetStringAsync(new Uri("/bad", UriKind.Relative));

        Assert.That(thrown, Is.InstanceOf<ArgumentException>());
    }
}
