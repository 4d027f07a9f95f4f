using Matomo.Rpc.SignalR.Tests.Support;
using Matomo.Rpc.TestSupport;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace Matomo.Rpc.SignalR.Tests;

/// <summary>
/// Callers' opt-out over every transport: the headers of the connection's request (negotiate and transport requests carry
/// the client's headers) decide for all of its calls; the app can opt a connection out in OnConnectedAsync.
/// </summary>
public sealed class MatomoHubFilterPrivacyTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private MatomoStandIn _matomo = null!;
    private string _tag = null!;

    [SetUp]
    public async Task StartMatomoAsync()
    {
        _matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        _tag = "http://client.test/" + Guid.NewGuid().ToString("N");
    }

    [TearDown]
    public async Task StopMatomoAsync() => await _matomo.DisposeAsync().AsTask().WaitAsync(Timeout);

    [TestCase(HttpTransportType.WebSockets, "Sec-GPC")]
    [TestCase(HttpTransportType.WebSockets, "DNT")]
    [TestCase(HttpTransportType.ServerSentEvents, "Sec-GPC")]
    [TestCase(HttpTransportType.ServerSentEvents, "DNT")]
    [TestCase(HttpTransportType.LongPolling, "Sec-GPC")]
    [TestCase(HttpTransportType.LongPolling, "DNT")]
    public async Task Connection_OptOutHeader_NoHitEveryCallCounted(HttpTransportType transport, string header)
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo);
        var optedOut = host.CreateConnection(SignalRTestHost.ChatPath, transport, _tag + "/out", new Dictionary<string, string> { [header] = "1" });
        var control = host.CreateConnection(SignalRTestHost.ChatPath, transport, _tag + "/in");
        await optedOut.StartAsync().WaitAsync(Timeout);
        await control.StartAsync().WaitAsync(Timeout);
        var optedOutId = optedOut.ConnectionId!;

        Assert.That(await optedOut.InvokeAsync<string>("Echo", "a").WaitAsync(Timeout), Is.EqualTo("a"));
        Assert.That(await optedOut.InvokeAsync<string>("shout", "b").WaitAsync(Timeout), Is.EqualTo("B"));
        await optedOut.DisposeAsync().AsTask().WaitAsync(Timeout);
        await host.Connections.WaitForDisconnectAsync(optedOutId).WaitAsync(Timeout);

        // Hits are queued in order: once the control's later call is stored, any hit of the opted-out caller would be too.
        await control.InvokeAsync<string>("Echo", "control").WaitAsync(Timeout);
        await _matomo.WaitForHitAsync(_tag + "/in", "ChatHub/Echo");
        Assert.That(_matomo.Of(_tag + "/out"), Is.Empty);
        Assert.That(_matomo.Hits.Select(h => h.Query), Has.None.Contain("out"));
        Assert.That(host.Tracker.Statistics.OptedOut, Is.EqualTo(4), "connect, two invocations, disconnect");
        Assert.That(_matomo.Of(_tag + "/in").Select(h => h["action_name"]), Is.EquivalentTo(new[] { "ChatHub/connect", "ChatHub/Echo" }));
    }

    [TestCase(HttpTransportType.WebSockets)]
    [TestCase(HttpTransportType.ServerSentEvents)]
    [TestCase(HttpTransportType.LongPolling)]
    public async Task Connection_NoOptOutHeader_Tracked(HttpTransportType transport)
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo);
        var connection = host.CreateConnection(SignalRTestHost.ChatPath, transport, _tag, new Dictionary<string, string> { ["DNT"] = "0" });
        await connection.StartAsync().WaitAsync(Timeout);

        await connection.InvokeAsync<string>("Echo", "a").WaitAsync(Timeout);

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/Echo");
        Assert.That(hit.CustomVariable("transport"), Is.EqualTo(transport.ToString()));
        Assert.That(host.Tracker.Statistics.OptedOut, Is.Zero);
    }

    [Test]
    public async Task Connection_HonorOptOutOff_Tracked()
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo, configure: o => o.Privacy.HonorOptOut = false);
        var connection = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag, new Dictionary<string, string> { ["Sec-GPC"] = "1" });
        await connection.StartAsync().WaitAsync(Timeout);

        await connection.InvokeAsync<string>("Echo", "a").WaitAsync(Timeout);

        await _matomo.WaitForHitAsync(_tag, "ChatHub/Echo");
        Assert.That(host.Tracker.Statistics.OptedOut, Is.Zero);
    }

    [TestCase(FilterRegistration.PerHub)]
    [TestCase(FilterRegistration.Global)]
    public async Task OptOutOfMatomoTracking_InOnConnectedAsync_ConnectInvocationsAndDisconnectNotTracked(FilterRegistration registration)
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo, registration);
        var optedOut = host.CreateConnection(SignalRTestHost.OptOutPath, HttpTransportType.WebSockets, _tag + "/out");
        var control = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag + "/in");
        await optedOut.StartAsync().WaitAsync(Timeout);
        await control.StartAsync().WaitAsync(Timeout);
        var optedOutId = optedOut.ConnectionId!;

        await optedOut.InvokeAsync<string>("Echo", "a").WaitAsync(Timeout);
        await optedOut.DisposeAsync().AsTask().WaitAsync(Timeout);
        await host.Connections.WaitForDisconnectAsync(optedOutId).WaitAsync(Timeout);

        await control.InvokeAsync<string>("Echo", "control").WaitAsync(Timeout);
        await _matomo.WaitForHitAsync(_tag + "/in", "ChatHub/Echo");
        Assert.That(_matomo.Of(_tag + "/out"), Is.Empty);
        Assert.That(_matomo.Hits.Select(h => h["action_name"]), Has.None.StartWith("OptOutHub"));
        Assert.That(host.Tracker.Statistics.OptedOut, Is.EqualTo(3), "connect, invocation, disconnect");
    }

    [Test]
    public async Task InvokeAsync_PseudonymDefault_UserNamedInNoHitOrLog()
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo, configure: o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.UserId;
            o.VisitorIdSalt = "replica-secret";
        });
        await using var replica = await SignalRTestHost.StartAsync(_matomo, configure: o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.UserId;
            o.VisitorIdSalt = "replica-secret";
        });
        var user = new Dictionary<string, string> { [SignalRTestHost.UserHeader] = "alice.liddell" };
        var first = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag + "/1", user);
        var second = replica.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.LongPolling, _tag + "/2", user);
        await first.StartAsync().WaitAsync(Timeout);
        await second.StartAsync().WaitAsync(Timeout);

        await first.InvokeAsync<string>("Echo", "1").WaitAsync(Timeout);
        await second.InvokeAsync<string>("Echo", "2").WaitAsync(Timeout);

        var one = await _matomo.WaitForHitAsync(_tag + "/1", "ChatHub/Echo");
        var two = await _matomo.WaitForHitAsync(_tag + "/2", "ChatHub/Echo");
        Assert.That(one["uid"], Does.Match("^[0-9a-f]{32}$"));
        Assert.That(two["uid"], Is.EqualTo(one["uid"]), "same user, same salt, another replica and transport");
        Assert.That(_matomo.Hits.Select(h => h.Query), Has.None.Contain("alice"));
    }
}
