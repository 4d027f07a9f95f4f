using System.Text.Json;
using Matomo.Rpc.SignalR.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.RealMatomo.Tests.Interop;

/// <summary>
/// The SignalR JavaScript client (Node.js, @microsoft/signalr, tests/interop/signalr-client.js) on each transport, with
/// the JSON and the MessagePack protocols, calls a hub tracked by <see cref="Matomo.Rpc.SignalR.MatomoHubFilter"/>, which
/// sends to the real Matomo; the tests read back what Matomo stored.
/// </summary>
public class SignalRNodeInteropTests : RealMatomoFixture
{
    /// <summary>The session of signalr-client.js as Matomo must hold it: page views (title, status, kind, messages, error).</summary>
    private static readonly (string Title, string Status, string Kind, string? Messages, string? Error)[] SessionCalls =
    [
        ("ChatHub/Echo", "ok", "hub_invocation", null, null),
        ("ChatHub/shout", "ok", "hub_invocation", null, null),
        ("ChatHub/FailWithHubException", "error", "hub_invocation", null, "HubException"),
        ("ChatHub/FailUnhandled", "error", "hub_invocation", null, "InvalidOperationException"),
        ("ChatHub/Count", "ok", "hub_stream", "in=0 out=3", null),
        ("ChatHub/Gated", "cancelled", "hub_stream", "in=0 out=1", null),
        ("ChatHub/Upload", "ok", "hub_invocation", "in=3 out=0", null),
    ];

    [OneTimeSetUp]
    public Task InstallClients() => NodeClients.EnsureInstalledAsync();

    [TestCase("WebSockets", "json")]
    [TestCase("ServerSentEvents", "json")]
    [TestCase("LongPolling", "json")]
    [TestCase("WebSockets", "messagepack")]
    [TestCase("LongPolling", "messagepack")]
    public async Task NodeSignalRClient_Session_MatomoStoresEveryCallAndTheConnectionsEvents(string transport, string protocol)
    {
        var site = await NewSiteAsync();
        await using var host = await StartHostAsync(site);
        var hits = SessionCalls.Length + 2;

        string connectionId;
        using (var client = NodeClients.Start("signalr-client.js", [new Uri(host.BaseUri, SignalRTestHost.ChatPath).ToString(), transport, protocol, "session"]))
        {
            await client.SucceedsAsync();
            connectionId = ConnectionIdOf(client);
        }

        await host.Connections.WaitForDisconnectAsync(connectionId).WaitAsync(RealMatomo.Patience);
        var stats = await WaitUntilAccountedAsync(host.Services, hits);
        var visits = await Matomo.WaitForActionsAsync(site, hits);
        var actions = visits.SelectMany(v => v.Actions).ToList();

        TestContext.Out.WriteLine(string.Join(Environment.NewLine, visits.Select(v => v.Json.ToString())));
        Assert.That(stats.Sent, Is.EqualTo(hits), stats.ToString());
        Assert.That(stats.Sent + stats.Rejected + stats.Dropped, Is.EqualTo(stats.Queued), stats.ToString());
        Assert.That(visits, Has.Count.EqualTo(1), "one connection is one visitor");
        var pageViews = actions.Where(a => a.Type == "action").ToList();
        Assert.That(pageViews.Select(a => (a.Title, a.CustomVariables["status"], a.CustomVariables["kind"], a.CustomVariables.GetValueOrDefault("messages"), a.CustomVariables["transport"])),
            Is.EquivalentTo(SessionCalls.Select(c => ((string?)c.Title, c.Status, c.Kind, c.Messages, transport))));
        foreach (var call in SessionCalls)
        {
            var error = pageViews.Single(a => a.Title == call.Title).CustomVariables.GetValueOrDefault("error");
            Assert.That(error, Is.EqualTo(call.Error), call.Title);
        }

        Assert.That(pageViews.Select(a => a.Url), Has.All.StartWith(host.BaseUri.ToString().TrimEnd('/') + SignalRTestHost.ChatPath + "/"));
        var events = actions.Where(a => a.Type == "event").ToList();
        Assert.That(events.Select(e => (e.Field("eventCategory"), e.Field("eventAction"), e.Field("eventName"))), Is.EqualTo(new[]
        {
            ("ChatHub", "connect", transport),
            ("ChatHub", "disconnect", transport),
        }));
        Assert.That(events[1].Field("eventValue"), Is.Not.Null, "the disconnect carries the connection's duration");
        // The Node.js client sends "User-Agent: Microsoft SignalR/10.0 (10.0.11; Linux; NodeJS; v20...)": Matomo knows no
        // such browser, and takes it for no bot.
        Assert.That(Field(visits[0].Json, "browserCode"), Is.EqualTo("UNK"));
    }

    [Test]
    public async Task NodeSignalRClient_KilledAbruptly_DisconnectIsTrackedWithTheConnectionsCalls()
    {
        var site = await NewSiteAsync();
        await using var host = await StartHostAsync(site);

        string connectionId;
        using (var client = NodeClients.Start("signalr-client.js", [new Uri(host.BaseUri, SignalRTestHost.ChatPath).ToString(), "WebSockets", "json", "hold"]))
        {
            connectionId = (await client.WaitForLineAsync("READY ")).Split(' ')[1];
            await client.KillAsync();
        }

        await host.Connections.WaitForDisconnectAsync(connectionId).WaitAsync(RealMatomo.Patience);
        var stats = await WaitUntilAccountedAsync(host.Services, 3);
        var visits = await Matomo.WaitForActionsAsync(site, 3);
        var actions = visits.SelectMany(v => v.Actions).ToList();

        TestContext.Out.WriteLine(string.Join(Environment.NewLine, actions.Select(a => a.Json.ToString())));
        Assert.That(stats.Sent, Is.EqualTo(3), stats.ToString());
        Assert.That(actions.Select(a => a.Title ?? a.Field("eventAction")), Has.Member("ChatHub/Echo"));
        var disconnect = actions.Single(a => a.Type == "event" && a.Field("eventAction") == "disconnect");
        Assert.That(disconnect.Field("eventName"), Is.EqualTo("WebSockets"));
        // SignalR closes a WebSocket that ended without a close frame as it closes one that said goodbye: the hub gets no
        // exception, so the disconnect is "ok" (README, "Built-in fields").
        Assert.That(disconnect.CustomVariables.GetValueOrDefault("status"), Is.EqualTo("ok"), disconnect.ToString());
        Assert.That(disconnect.CustomVariables.GetValueOrDefault("error"), Is.Null, disconnect.ToString());
    }

    [TestCase("WebSockets", "Sec-GPC")]
    [TestCase("LongPolling", "DNT")]
    public async Task NodeSignalRClient_OptOutHeader_NothingStoredAndEveryHitCounted(string transport, string header)
    {
        var site = await NewSiteAsync();
        await using var host = await StartHostAsync(site);
        var url = new Uri(host.BaseUri, SignalRTestHost.ChatPath).ToString();

        using (var optedOut = NodeClients.Start("signalr-client.js", [url, transport, "json", "session"], new Dictionary<string, string> { ["INTEROP_HEADERS"] = $"{{\"{header}\":\"1\"}}" }))
        {
            await optedOut.SucceedsAsync();
            await host.Connections.WaitForDisconnectAsync(ConnectionIdOf(optedOut)).WaitAsync(RealMatomo.Patience);
        }

        // Then a client without the header on the same site: once its hits are in Matomo, the opted-out ones would be too.
        var hits = SessionCalls.Length + 2;
        string connectionId;
        using (var client = NodeClients.Start("signalr-client.js", [url, transport, "json", "session"]))
        {
            await client.SucceedsAsync();
            connectionId = ConnectionIdOf(client);
        }

        await host.Connections.WaitForDisconnectAsync(connectionId).WaitAsync(RealMatomo.Patience);
        var stats = await WaitUntilAccountedAsync(host.Services, hits);
        var visits = await Matomo.WaitForActionsAsync(site, hits);

        Assert.That(stats.Sent, Is.EqualTo(hits), stats.ToString());
        Assert.That(stats.OptedOut, Is.EqualTo(hits), "the opted-out connection's connect, calls and disconnect are counted: " + stats);
        Assert.That(visits.SelectMany(v => v.Actions).ToList(), Has.Count.EqualTo(hits), "nothing of the opted-out session is stored");
        Assert.That(visits, Has.Count.EqualTo(1));
    }

    private Task<SignalRTestHost> StartHostAsync(int site) =>
        SignalRTestHost.StartAsync(Matomo.TrackerUrl, site, FilterRegistration.PerHub, o => Track(o, site, TrackingToken), configureSignalR: s => s.AddMessagePackProtocol());

    private static string ConnectionIdOf(ClientProcess client) =>
        JsonDocument.Parse(client.Lines.First(l => l.Contains("\"start\"", StringComparison.Ordinal))).RootElement.GetProperty("connectionId").GetString()!;

    private static string? Field(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value.ToString() : null;
}
