using System.Collections.Concurrent;
using System.Globalization;
using Matomo.Rpc.SignalR.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.SignalR.Tests.Reliability;

/// <summary>
/// The reliability suite's driver for SignalR: <see cref="SignalRTestHost"/> with <c>ChatHub</c>; each caller is one
/// WebSocket connection, and a call is <c>Echo("caller:sequence")</c>, which the hub records as the custom variable
/// <c>text</c>. Connect and disconnect events are not tracked (so that every hit is one invocation), except with
/// hostile callers, whose connects count as hits too.
/// </summary>
public sealed class SignalRReliabilityHost : ReliabilityHost, IReliabilityHostFactory
{
    private const int Seed = 20261126;
    private const int HostileCallers = 24;
    private const int HostilePerCaller = 6;

    // SignalR refuses messages over 32 KB by default; a value of 4000 UTF-16 units stays under it even when JSON escapes
    // every character.
    private const int MaxMessageText = 4000;

    private readonly SignalRTestHost _host;
    private readonly ConcurrentDictionary<string, Lazy<Task<HubConnection>>> _connections = new(StringComparer.Ordinal);

    private SignalRReliabilityHost(MatomoStandIn matomo, CapturingLoggerProvider logs, SignalRTestHost host)
        : base(matomo, logs)
    {
        _host = host;
        Tracker = host.Tracker;
    }

    public override MatomoTracker Tracker { get; }

    public override string CallAction => "ChatHub/Echo";

    public override string TrackingFailedEvent => "HubTrackingFailed";

    public override string PoisonParameter => "dimension7";

    public static async Task<ReliabilityHost> StartAsync(MatomoStandIn matomo, ReliabilityScenario scenario, Action<MatomoOptions> configure, CapturingLoggerProvider logs, LogLevel minimumLevel)
    {
        var host = await SignalRTestHost.StartAsync(matomo, FilterRegistration.PerHub, o =>
        {
            if (scenario != ReliabilityScenario.HostileInput)
            {
                o.IgnoredCallKinds.Add(MatomoCallKind.HubConnect);
            }

            o.IgnoredCallKinds.Add(MatomoCallKind.HubDisconnect);
            configure(o);
        }, capture: logs, captureLevel: minimumLevel);
        return new SignalRReliabilityHost(matomo, logs, host);
    }

    public override async Task ConnectAsync(int callers) =>
        await Task.WhenAll(Enumerable.Range(0, callers).Select(c => ConnectionAsync(CallerName(c)))).WaitAsync(Timeout);

    public override async Task<ClientCall> CallAsync(string caller, int sequence)
    {
        var connection = await ConnectionAsync(caller);
        var text = string.Create(CultureInfo.InvariantCulture, $"{caller}:{sequence}");
        string? echoed = null;
        var call = await ClientCall.TimeAsync(caller, sequence, async () => echoed = await connection.InvokeAsync<string>("Echo", text).WaitAsync(Timeout));
        Assert.That(echoed, Is.EqualTo(text));
        return call;
    }

    public override async Task PoisonCallAsync() =>
        await (await ConnectionAsync(CallerName(0))).InvokeAsync("Notify", "poison").WaitAsync(Timeout);

    public override async Task<string> FailingCallAsync()
    {
        try
        {
            await (await ConnectionAsync(CallerName(0))).InvokeAsync("FailUnhandled").WaitAsync(Timeout);
        }
        catch (HubException ex)
        {
            return ex.ToString();
        }

        Assert.Fail("the invocation did not fail");
        return string.Empty;
    }

    public override (string Caller, int Sequence) Key(StoredHit hit)
    {
        var text = hit.CustomVariable("text") ?? "?:-1";
        var colon = text.LastIndexOf(':');
        return colon < 0 ? ("?", -1) : (text[..colon], int.Parse(text[(colon + 1)..], CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Hostile callers over every transport (random and extreme User-Agent, Accept-Language and Referer headers) and
    /// hostile values that the hub puts in its per-invocation variables; each connection's connect event is a hit too.
    /// </summary>
    public override async Task<HostileRun> RunHostileCallersAsync()
    {
        var failures = new ConcurrentBag<string>();
        var invocations = 0;
        TestContext.Out.WriteLine($"seed {Seed}");
        HttpTransportType[] transports = [HttpTransportType.WebSockets, HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling];

        await Task.WhenAll(Enumerable.Range(0, HostileCallers).Select(async c =>
        {
            var text = new HostileText(Seed + c);
            var headers = new Dictionary<string, string>();
            foreach (var name in new[] { "User-Agent", "Accept-Language", "Referer" })
            {
                if (text.HeaderValue() is { Length: > 0 } value)
                {
                    headers[name] = value;
                }
            }

            var connection = new HubConnectionBuilder()
                .WithUrl(new Uri(_host.BaseUri, SignalRTestHost.ChatPath), transports[c % transports.Length], o =>
                {
                    o.HttpMessageHandlerFactory = inner => new RawHeadersHandler(inner, headers);
                    o.WebSocketConfiguration = ws =>
                    {
                        foreach (var (name, value) in headers)
                        {
                            ws.SetRequestHeader(name, value);
                        }
                    };
                })
                .Build();
            try
            {
                await connection.StartAsync().WaitAsync(Timeout);
                for (var i = 0; i < HostilePerCaller; i++)
                {
                    var value = text.Text();
                    value = value.Length > MaxMessageText ? value[..MaxMessageText] : value;
                    Interlocked.Increment(ref invocations);
                    if (i % 2 == 0)
                    {
                        await connection.InvokeAsync<string>("Echo", value).WaitAsync(Timeout);
                    }
                    else
                    {
                        await connection.InvokeAsync("Notify", value).WaitAsync(Timeout);
                    }
                }

                await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
            }
            catch (Exception ex)
            {
                await connection.DisposeAsync();
                failures.Add($"caller {c} ({string.Join(", ", headers.Select(h => h.Key + ": " + h.Value.Length))}): {ex.GetType().Name}: {ex.Message}");
            }
        })).WaitAsync(Timeout);
        return new HostileRun(invocations, invocations + HostileCallers, failures); // one connect event per connection
    }

    public override Task AssertHostileOutcomeAsync(HostileRun run, IReadOnlyList<StoredHit> hits)
    {
        Assert.That(run.Calls, Is.EqualTo(HostileCallers * HostilePerCaller));
        Assert.That(hits.Count(h => h.Parameters.GetValueOrDefault("ua")?.Length == 1024), Is.GreaterThan(0), "extreme user agents reached Matomo, cut to 1024");
        return Task.CompletedTask;
    }

    /// <summary>The connections are closed before the app stops, as clients leave.</summary>
    protected override async Task StopHostAsync() => await _host.DisposeAsync();

    protected override ValueTask DisposeHostAsync() => ValueTask.CompletedTask;

    private Task<HubConnection> ConnectionAsync(string caller) =>
        _connections.GetOrAdd(caller, name => new Lazy<Task<HubConnection>>(async () =>
        {
            var connection = _host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, "http://caller.test/" + name);
            await connection.StartAsync().WaitAsync(Timeout);
            return connection;
        })).Value;
}
