using System.Globalization;
using System.Text.Json;
using Matomo.Rpc.Grpc.Tests.Support;

namespace Matomo.Rpc.RealMatomo.Tests.Interop;

/// <summary>
/// A gRPC client of another stack (tests/interop: grpc-client.js, grpc-client.py) calls a host tracked by
/// <see cref="Matomo.Rpc.Grpc.MatomoInterceptor"/>, which sends to the real Matomo; the tests read back what Matomo
/// stored. Every client runs the same scenarios (same names, same expected statuses) and must leave the same rows.
/// </summary>
public abstract class GrpcInteropTests : RealMatomoFixture
{
    private const string SayHello = "greet.Greeter/SayHello";
    private const string SayHelloStream = "greet.Greeter/SayHelloStream";
    private const string SayHelloToMany = "greet.Greeter/SayHelloToMany";
    private const string Chat = "greet.Greeter/Chat";

    /// <summary>
    /// A duplex call cancelled while the service reads its request stream: the read fails (IOException, before Kestrel
    /// cancels the call's token; or OperationCanceledException, after), which is Cancelled; about one time in eight with
    /// grpc-js the read ends as if the client had closed its side and the service returns normally: then OK is what the
    /// server saw (README, "Built-in fields").
    /// </summary>
    private const string ReadingCancelled = "Cancelled (1)|OK (0)";

    /// <summary>Scenario of the client script, then the hit Matomo must hold for it (null: none).</summary>
    private static readonly (string Scenario, Expected? Hit)[] Scenarios =
    [
        ("ok", new(SayHello, "OK (0)", "unary", null, null)),
        ("notfound", new(SayHello, "NotFound (5)", "unary", null, "RpcException")),
        ("crash", new(SayHello, "Unknown (2)", "unary", null, "InvalidOperationException")),
        ("duplex-cancel", new(Chat, "Cancelled (1)", "duplex_streaming", "in=2 out=1", "*")),
        ("deadline", new(SayHello, "DeadlineExceeded (4)", "unary", null, "*")),
        ("server-stream", new(SayHelloStream, "OK (0)", "server_streaming", "in=1 out=3", null)),
        ("server-stream-cancel", new(SayHelloStream, "Cancelled (1)", "server_streaming", "in=1 out=2", "*")),
        ("client-stream", new(SayHelloToMany, "OK (0)", "client_streaming", "in=3 out=1", null)),
        ("duplex", new(Chat, "OK (0)", "duplex_streaming", "in=2 out=2", null)),
        ("undecodable", new(SayHelloToMany, "Unknown (2)", "client_streaming", "in=1 out=0", "InvalidProtocolBufferException")),
        ("metadata", new(SayHello, "OK (0)", "unary", null, null)),
        ("duplex-cancel-reading", new(Chat, ReadingCancelled, "duplex_streaming", "in=1 out=1", "*")),
        ("opt-out-gpc", null),
        ("opt-out-dnt", null),
        ("unimplemented-method", null),
        ("unimplemented-service", null),
    ];

    /// <summary>What Matomo's device detection makes of the client's own user agent: browserCode, deviceType, operatingSystemCode.</summary>
    protected abstract (string Browser, string Device, string System) ExpectedDevice { get; }

    [OneTimeSetUp]
    public Task InstallClient() => EnsureClientInstalledAsync();

    [Test]
    public async Task GrpcClient_EveryScenario_MatomoStoresWhatTheClientSaw()
    {
        var site = await NewSiteAsync();
        await using var host = await StartGrpcAsync(site, TrackingToken);
        var expected = Scenarios.Where(s => s.Hit is not null).Select(s => s.Hit!).ToList();

        host.Probe.Reset();
        using (var client = StartClient([host.Authority, .. Scenarios.Select(s => s.Scenario)]))
        {
            // The duplex call is cancelled while the service waits in it (the first "wait" of the run).
            await client.WaitForLineAsync("WAITING duplex-cancel");
            await host.Probe.Waiting.WaitAsync(TestTimeouts.Default);
            await client.WriteLineAsync("go");
            await client.SucceedsAsync();
        }

        var stats = await WaitUntilAccountedAsync(host.Services, expected.Count);
        var visits = await Matomo.WaitForActionsAsync(site, expected.Count);
        var actions = visits.SelectMany(v => v.Actions).ToList();

        TestContext.Out.WriteLine(string.Join(Environment.NewLine, visits.Select(v => v.Json.ToString())));
        Assert.That(stats.Sent, Is.EqualTo(expected.Count), stats.ToString());
        Assert.That(stats.Sent + stats.Rejected + stats.Dropped, Is.EqualTo(stats.Queued), stats.ToString());
        Assert.That(stats.OptedOut, Is.EqualTo(2), "sec-gpc: 1 and dnt: 1 are opt-outs, counted and not sent: " + stats);
        Assert.That(actions, Has.Count.EqualTo(expected.Count), "one row per tracked call, none for the opt-outs or the unimplemented methods");
        Assert.That(actions.Select(a => (a.Title, Status(a, expected), a.CustomVariables["kind"], a.CustomVariables.GetValueOrDefault("messages"))),
            Is.EquivalentTo(expected.Select(e => ((string?)e.Action, e.Status, e.Kind, e.Messages))));
        foreach (var action in actions)
        {
            var hit = expected.First(e => e.Action == action.Title && e.Status == Status(action, expected) && e.Messages == action.CustomVariables.GetValueOrDefault("messages"));
            var error = hit.Status == ReadingCancelled && action.CustomVariables["status"] == "OK (0)" ? null : hit.Error;
            Assert.That(action.CustomVariables.GetValueOrDefault("error"), error == "*" ? Is.Not.Null : Is.EqualTo(error), action.ToString());
        }

        Assert.That(actions.Select(a => a.Url), Has.All.StartWith("http://" + host.Authority + "/greet.Greeter/"));
        Assert.That(visits.Select(v => v.VisitorId).Distinct().Count(), Is.EqualTo(1), "one client (one address, one user agent) is one visitor");
        var visit = visits[0].Json;
        // Matomo's device detection knows no gRPC client: the client's user agent is an unknown browser, and no bot (a
        // bot's visit would not be stored at all).
        Assert.That((Field(visit, "browserCode"), Field(visit, "deviceType"), Field(visit, "operatingSystemCode")), Is.EqualTo(ExpectedDevice));
        Assert.That(Field(visit, "referrerUrl") ?? string.Empty, Does.Not.Contain("secret"), "urlref is sent without its query string");

        if (RealMatomo.Sql is not null)
        {
            var times = (await RealMatomo.SqlAsync($"select time_server from matomo_log_link_visit_action where idsite = {site}")).Select(r => r[0]).ToList();
            Assert.That(times, Has.Count.EqualTo(expected.Count).And.None.EqualTo("NULL"), "pf_srv is stored for every call");
            Assert.That(times.Select(t => int.Parse(t, CultureInfo.InvariantCulture)).Max(), Is.GreaterThanOrEqualTo(250), "the deadline call's 300 ms are in its pf_srv");
        }
    }

    [Test]
    public async Task GrpcClient_HugeOddUserAgentAndBinaryMetadata_StoredAsItsOwnVisitor()
    {
        var site = await NewSiteAsync();
        await using var host = await StartGrpcAsync(site, TrackingToken);
        // Printable ASCII only (HTTP/2 header values); characters that need URL-escaping, quotes, a JSON-looking part.
        var odd = "Odd/1.0 (\"quoted\"; a=b&c=d%20e+f; {\"json\":[1,2]}; <tag>; \\back\\slash) " + new string('x', 6000);

        using (var plain = StartClient([host.Authority, "ok"]))
        {
            await plain.SucceedsAsync();
        }

        using (var client = StartClient([host.Authority, "metadata", "ok"], new Dictionary<string, string> { ["INTEROP_USER_AGENT"] = odd }))
        {
            await client.SucceedsAsync();
        }

        var stats = await WaitUntilAccountedAsync(host.Services, 3);
        var visits = await Matomo.WaitForActionsAsync(site, 3);

        TestContext.Out.WriteLine(string.Join(Environment.NewLine, visits.Select(v => v.Json.ToString())));
        Assert.That(stats.Sent, Is.EqualTo(3), stats.ToString());
        Assert.That(stats.Rejected + stats.Dropped, Is.Zero, stats.ToString());
        Assert.That(visits.Select(v => v.VisitorId).Distinct().Count(), Is.EqualTo(2), "two clients with two user agents are two visitors");
        Assert.That(visits.Select(v => v.Actions.Count), Is.EquivalentTo(new[] { 1, 2 }));
        // The odd user agent reached Matomo as sent: its device detection reads the "Odd/1.0" product from it.
        var oddVisit = visits.Single(v => v.Actions.Count == 2).Json;
        Assert.That(Field(oddVisit, "browserName"), Is.EqualTo("Odd Browser"));
        Assert.That(Field(oddVisit, "referrerUrl"), Is.EqualTo("https://client.example/page"));
    }

    /// <summary>Checks that the client's runtime is there (fails, never skips, saying what to install).</summary>
    protected abstract Task EnsureClientInstalledAsync();

    /// <summary>Starts the client script: one process is one client (one channel, one user agent).</summary>
    protected abstract ClientProcess StartClient(IEnumerable<string> arguments, IDictionary<string, string>? environment = null);

    [Test]
    public async Task GrpcClient_KilledWhileTheServiceReads_StoredAsCancelled()
    {
        var site = await NewSiteAsync();
        await using var host = await StartGrpcAsync(site, TrackingToken);

        using (var client = StartClient([host.Authority, "duplex-hold"]))
        {
            // Its first request answered, the client holds the call open; SIGKILL: no reset, the connection drops.
            await client.WaitForLineAsync("WAITING duplex-hold");
            await client.KillAsync();
        }

        var stats = await WaitUntilAccountedAsync(host.Services, 1);
        var visits = await Matomo.WaitForActionsAsync(site, 1);
        var action = visits.SelectMany(v => v.Actions).Single();

        TestContext.Out.WriteLine(action.Json.ToString());
        Assert.That(stats.Sent, Is.EqualTo(1), stats.ToString());
        Assert.That((action.Title, action.CustomVariables["status"], action.CustomVariables["kind"], action.CustomVariables.GetValueOrDefault("messages")),
            Is.EqualTo(((string?)Chat, "Cancelled (1)", "duplex_streaming", (string?)"in=1 out=1")));
        Assert.That(action.CustomVariables.GetValueOrDefault("error"), Is.AnyOf("IOException", "OperationCanceledException", "TaskCanceledException"), "the read failed as the connection dropped");
    }

    /// <summary>The action's status, or the alternatives of the expected hit it is one of (never "Unknown (2)").</summary>
    private static string Status(MatomoAction action, IEnumerable<Expected> expected)
    {
        var status = action.CustomVariables["status"];
        var messages = action.CustomVariables.GetValueOrDefault("messages");
        return expected.FirstOrDefault(e => e.Action == action.Title && e.Messages == messages && e.Status.Contains('|', StringComparison.Ordinal) && e.Status.Split('|').Contains(status))?.Status ?? status;
    }

    private static string? Field(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value.ToString() : null;

    private sealed record Expected(string Action, string Status, string Kind, string? Messages, string? Error);
}
