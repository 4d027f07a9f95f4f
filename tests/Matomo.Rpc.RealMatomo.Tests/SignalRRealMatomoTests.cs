using Matomo.Rpc.SignalR.Tests.Support;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;

namespace Matomo.Rpc.RealMatomo.Tests;

/// <summary>SignalR invocations, streams, connects and disconnects through a real client and host, as a real Matomo stores them.</summary>
public class SignalRRealMatomoTests : RealMatomoFixture
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Test]
    public async Task EveryHubCallKind_StoredOnceWithActionOutcomeKindAndEvents()
    {
        var site = await NewSiteAsync();
        await using var host = await SignalRTestHost.StartAsync(Matomo.TrackerUrl, site, FilterRegistration.PerHub, o => Track(o, site, TrackingToken));
        var connection = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, "real");

        await connection.StartAsync().WaitAsync(Timeout);
        Assert.That(await connection.InvokeAsync<string>("Echo", "hi").WaitAsync(Timeout), Is.EqualTo("hi"));
        var items = new List<int>();
        await foreach (var item in connection.StreamAsync<int>("Count", 3, 0).WithCancellation(CancellationToken.None))
        {
            items.Add(item);
        }

        Assert.ThrowsAsync<HubException>(() => connection.InvokeAsync("FailWithHubException").WaitAsync(Timeout));
        var connectionId = connection.ConnectionId!;
        await connection.StopAsync().WaitAsync(Timeout);
        await host.Connections.WaitForDisconnectAsync(connectionId).WaitAsync(Timeout);

        var stats = await WaitUntilAccountedAsync(host.Services, 5);
        var visits = await Matomo.WaitForActionsAsync(site, 5);
        var actions = visits.SelectMany(v => v.Actions).ToList();

        TestContext.Out.WriteLine(string.Join(Environment.NewLine, actions.Select(a => a.Json.ToString())));
        Assert.That(items, Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(stats.Sent, Is.EqualTo(5), stats.ToString());
        Assert.That(visits, Has.Count.EqualTo(1), "one connection is one visitor");
        var pageViews = actions.Where(a => a.Type == "action").ToList();
        Assert.That(pageViews.Select(a => (a.Title, a.CustomVariables["status"], a.CustomVariables["kind"])), Is.EquivalentTo(new[]
        {
            ((string?)"ChatHub/Echo", "ok", "hub_invocation"),
            ("ChatHub/Count", "ok", "hub_stream"),
            ("ChatHub/FailWithHubException", "error", "hub_invocation"),
        }));
        Assert.That(pageViews.Single(a => a.Title == "ChatHub/Echo").CustomVariables["text"], Is.EqualTo("hi"));
        Assert.That(pageViews.Select(a => a.Url), Has.All.StartWith(host.BaseUri.ToString().TrimEnd('/') + SignalRTestHost.ChatPath + "/"));
        var events = actions.Where(a => a.Type == "event").ToList();
        Assert.That(events.Select(e => (e.Field("eventCategory"), e.Field("eventAction"), e.Field("eventName"))), Is.EqualTo(new[]
        {
            ("ChatHub", "connect", "WebSockets"),
            ("ChatHub", "disconnect", "WebSockets"),
        }));
        Assert.That(events[1].Field("eventValue"), Is.Not.Null, "the disconnect carries the connection's duration");
    }

    [Test]
    public async Task TwoConnections_AreTwoVisitors()
    {
        var site = await NewSiteAsync();
        await using var host = await SignalRTestHost.StartAsync(Matomo.TrackerUrl, site, FilterRegistration.PerHub, o => Track(o, site, TrackingToken));

        foreach (var tag in new[] { "one", "two" })
        {
            var connection = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.LongPolling, tag);
            await connection.StartAsync().WaitAsync(Timeout);
            await connection.InvokeAsync<string>("Echo", tag).WaitAsync(Timeout);
            await connection.InvokeAsync<string>("shout", tag).WaitAsync(Timeout);
        }

        await WaitUntilAccountedAsync(host.Services, 6);
        var visits = await Matomo.WaitForActionsAsync(site, 6);

        Assert.That(visits, Has.Count.EqualTo(2), string.Join(Environment.NewLine, visits));
        Assert.That(visits.Select(v => v.Actions.Select(a => a.Title ?? a.Field("eventAction"))), Has.All.EquivalentTo(new[] { "Event", "ChatHub/Echo", "ChatHub/shout" }));
    }
}
