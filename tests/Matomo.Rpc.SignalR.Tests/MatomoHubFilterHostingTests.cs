using System.Diagnostics;
using Matomo.Rpc.SignalR.Tests.Support;
using Matomo.Rpc.TestSupport;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace Matomo.Rpc.SignalR.Tests;

/// <summary>Ways of registering the filter, options that turn tracking off, and Matomo being down or slow.</summary>
public sealed class MatomoHubFilterHostingTests
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

    [TestCase(FilterRegistration.Global)]
    [TestCase(FilterRegistration.GlobalSingleton)]
    public async Task AddFilter_ForAllHubs_TracksEveryHubWhetherOrNotTheFilterIsAService(FilterRegistration registration)
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo, registration);
        var chat = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag);
        var plain = host.CreateConnection(SignalRTestHost.PlainPath, HttpTransportType.WebSockets, _tag);
        await chat.StartAsync().WaitAsync(Timeout);
        await plain.StartAsync().WaitAsync(Timeout);

        var echo = await chat.InvokeAsync<string>("Echo", "x").WaitAsync(Timeout);
        var plainResult = await plain.InvokeAsync<string>("TrySetVar").WaitAsync(Timeout);

        var chatHit = await _matomo.WaitForHitAsync(_tag, "ChatHub/Echo");
        var plainHit = await _matomo.WaitForHitAsync(_tag, "PlainHub/TrySetVar");
        Assert.That(echo, Is.EqualTo("x"));
        Assert.That(plainResult, Is.EqualTo("no exception"));
        Assert.That(chatHit["url"], Does.EndWith("/hubs/chat/Echo"));
        Assert.That(plainHit["url"], Does.EndWith("/hubs/plain/TrySetVar"));
        Assert.That(plainHit["dimension1"], Is.EqualTo("x"));
        Assert.That(host.Logs.Entries.Where(e => e.EventId.Name == "HubTrackingFailed"), Is.Empty);
    }

    [Test]
    public async Task IgnoredCallKinds_ConnectAndDisconnect_SendsNoEventsButStillTracksInvocations()
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo, FilterRegistration.PerHub, o =>
        {
            o.IgnoredCallKinds.Add(MatomoCallKind.HubConnect);
            o.IgnoredCallKinds.Add(MatomoCallKind.HubDisconnect);
        });
        var connection = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag);
        await connection.StartAsync().WaitAsync(Timeout);

        var connectionId = connection.ConnectionId!;
        await connection.InvokeAsync<string>("Echo", "x").WaitAsync(Timeout);
        await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
        await host.Connections.WaitForDisconnectAsync(connectionId).WaitAsync(Timeout);

        // A later invocation's hit is queued after the disconnect event would have been, and hits are sent in order.
        var probe = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag);
        await probe.StartAsync().WaitAsync(Timeout);
        await probe.InvokeAsync<string>("shout", "y").WaitAsync(Timeout);
        await probe.DisposeAsync().AsTask().WaitAsync(Timeout);

        await _matomo.WaitForHitAsync(_tag, "ChatHub/Echo");
        await _matomo.WaitForHitAsync(_tag, "ChatHub/shout");
        Assert.That(_matomo.Of(_tag).Where(h => h.Has("e_c")), Is.Empty);
    }

    [TestCase(HttpTransportType.WebSockets)]
    [TestCase(HttpTransportType.LongPolling)]
    public async Task InvokeAsync_KnownUserWithUserIdIdentity_TwoConnectionsAreOneUser(HttpTransportType transport)
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo, FilterRegistration.PerHub, o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);
        var user = new Dictionary<string, string> { [SignalRTestHost.UserHeader] = "alice" };
        var first = host.CreateConnection(SignalRTestHost.ChatPath, transport, _tag, user);
        var second = host.CreateConnection(SignalRTestHost.ChatPath, transport, _tag, user);
        var anonymous = host.CreateConnection(SignalRTestHost.ChatPath, transport, _tag);
        await first.StartAsync().WaitAsync(Timeout);
        await second.StartAsync().WaitAsync(Timeout);
        await anonymous.StartAsync().WaitAsync(Timeout);

        await first.InvokeAsync<string>("Echo", "1").WaitAsync(Timeout);
        await second.InvokeAsync<string>("Echo", "2").WaitAsync(Timeout);
        await anonymous.InvokeAsync<string>("Echo", "3").WaitAsync(Timeout);

        var hits = await _matomo.WaitForHitsAsync(_tag, "ChatHub/Echo", 3);
        var byText = hits.ToDictionary(h => h.CustomVariable("text")!);
        Assert.That(byText["1"]["uid"], Does.Match("^[0-9a-f]{32}$"), "a pseudonym by default");
        Assert.That(byText["2"]["uid"], Is.EqualTo(byText["1"]["uid"]));
        Assert.That(byText["1"].Has("cid"), Is.False);
        Assert.That(byText["3"].Has("uid"), Is.False);
        Assert.That(byText["3"]["cid"], Does.Match("^[0-9a-f]{16}$"));
    }

    [Test]
    public async Task InvokeAsync_VisitorHeaderIdentity_TheHeaderWinsOverTheConnection()
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo, FilterRegistration.PerHub, o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Header;
            o.VisitorIdHeader = "X-Client-Id";
        });
        var first = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag, new Dictionary<string, string> { ["X-Client-Id"] = "device-1" });
        var second = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag, new Dictionary<string, string> { ["X-Client-Id"] = "device-1" });
        var other = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag, new Dictionary<string, string> { ["X-Client-Id"] = "device-2" });
        await first.StartAsync().WaitAsync(Timeout);
        await second.StartAsync().WaitAsync(Timeout);
        await other.StartAsync().WaitAsync(Timeout);

        await first.InvokeAsync<string>("Echo", "1").WaitAsync(Timeout);
        await second.InvokeAsync<string>("Echo", "2").WaitAsync(Timeout);
        await other.InvokeAsync<string>("Echo", "3").WaitAsync(Timeout);

        var hits = await _matomo.WaitForHitsAsync(_tag, "ChatHub/Echo", 3);
        var byText = hits.ToDictionary(h => h.CustomVariable("text")!);
        Assert.That(byText["2"]["cid"], Is.EqualTo(byText["1"]["cid"]));
        Assert.That(byText["3"]["cid"], Is.Not.EqualTo(byText["1"]["cid"]));
    }

    [TestCase(HttpTransportType.WebSockets)]
    [TestCase(HttpTransportType.LongPolling)]
    public async Task InvokeAsync_MatomoDown_CallsSucceedWithoutWaitingForMatomo(HttpTransportType transport)
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo);
        await _matomo.StopAsync().WaitAsync(Timeout);
        var connection = host.CreateConnection(SignalRTestHost.ChatPath, transport, _tag);
        var slowest = TimeSpan.Zero;

        var start = Stopwatch.StartNew();
        await connection.StartAsync().WaitAsync(Timeout);
        var connectTime = start.Elapsed;
        for (var i = 0; i < 10; i++)
        {
            var watch = Stopwatch.StartNew();
            var result = await connection.InvokeAsync<string>("Echo", "x" + i).WaitAsync(Timeout);
            Assert.That(result, Is.EqualTo("x" + i));
            slowest = TimeSpan.FromTicks(Math.Max(slowest.Ticks, watch.Elapsed.Ticks));
        }

        // Generous bounds: a call takes milliseconds on loopback; the sender's HTTP timeout is 5 s.
        Assert.That(connectTime, Is.LessThan(TimeSpan.FromSeconds(2)));
        Assert.That(slowest, Is.LessThan(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public async Task InvokeAsync_MatomoAnswersAfterTwoSeconds_CallsDoNotWait()
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo);
        var connection = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag);
        await connection.StartAsync().WaitAsync(Timeout);
        _matomo.Latency = TimeSpan.FromSeconds(2);

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 5; i++)
        {
            await connection.InvokeAsync<string>("Echo", "x").WaitAsync(Timeout);
        }

        watch.Stop();
        await _matomo.WaitForHitsAsync(_tag, "ChatHub/Echo", 5);
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public async Task InvokeAsync_MatomoBackAfterBeingDown_TheHitsOfTheDowntimeAreStored()
    {
        await using var host = await SignalRTestHost.StartAsync(_matomo, FilterRegistration.PerHub, o => o.Sending.RetryMaxDelay = TimeSpan.FromMilliseconds(200));
        var connection = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, _tag);
        await connection.StartAsync().WaitAsync(Timeout);
        await _matomo.StopAsync().WaitAsync(Timeout);

        for (var i = 0; i < 3; i++)
        {
            await connection.InvokeAsync<string>("Echo", "down" + i).WaitAsync(Timeout);
        }

        await _matomo.RestartAsync().WaitAsync(Timeout);

        var hits = await _matomo.WaitForHitsAsync(_tag, "ChatHub/Echo", 3);
        Assert.That(hits.Select(h => h.CustomVariable("text")), Is.EquivalentTo(new[] { "down0", "down1", "down2" }));
    }
}
