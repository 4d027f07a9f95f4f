using System.Diagnostics;
using System.Globalization;
using Matomo.Rpc.SignalR.Tests.Support;
using Matomo.Rpc.TestSupport;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace Matomo.Rpc.SignalR.Tests.Reliability;

/// <summary>One invocation as the client saw it: the connection that made it, its sequence number, when it started and ended (UTC).</summary>
public sealed record HubCall(int Caller, int Sequence, DateTimeOffset Started, DateTimeOffset Ended, TimeSpan Duration);

/// <summary>
/// Reliability scenarios on <see cref="SignalRTestHost"/>: each caller is one connection to <c>ChatHub</c>, and each
/// invocation is <c>Echo("caller:sequence")</c>, which the hub records as the custom variable <c>text</c>.
/// </summary>
public static class HubCallers
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Connect and disconnect events are not tracked here, so that every hit is one invocation.</summary>
    public static Task<SignalRTestHost> StartHostAsync(MatomoStandIn matomo, Action<MatomoOptions>? configure = null) =>
        SignalRTestHost.StartAsync(matomo, FilterRegistration.PerHub, o =>
        {
            o.IgnoredCallKinds.Add(MatomoCallKind.HubConnect);
            o.IgnoredCallKinds.Add(MatomoCallKind.HubDisconnect);
            o.Sending.RetryMaxDelay = TimeSpan.FromMilliseconds(200);
            o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(5);
            configure?.Invoke(o);
        });

    public static async Task<IReadOnlyList<HubConnection>> ConnectAsync(this SignalRTestHost host, int callers)
    {
        var connections = Enumerable.Range(0, callers)
            .Select(c => host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, "http://caller.test/" + c.ToString(CultureInfo.InvariantCulture)))
            .ToList();
        await Task.WhenAll(connections.Select(c => c.StartAsync())).WaitAsync(Timeout);
        return connections;
    }

    public static async Task<HubCall> EchoAsync(this HubConnection connection, int caller, int sequence)
    {
        var text = Text(caller, sequence);
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var echoed = await connection.InvokeAsync<string>("Echo", text).WaitAsync(Timeout);
        var duration = clock.Elapsed;
        Assert.That(echoed, Is.EqualTo(text));
        return new HubCall(caller, sequence, started, DateTimeOffset.UtcNow, duration);
    }

    /// <summary>Every connection in parallel, each invoking sequences <paramref name="first"/> to first + count - 1 one after the other.</summary>
    public static async Task<IReadOnlyList<HubCall>> RunAsync(this IReadOnlyList<HubConnection> connections, int first, int count)
    {
        var all = await Task.WhenAll(connections.Select(async (connection, c) =>
        {
            var done = new List<HubCall>(count);
            for (var i = first; i < first + count; i++)
            {
                done.Add(await connection.EchoAsync(c, i));
            }

            return done;
        })).WaitAsync(Timeout);
        return [.. all.SelectMany(c => c)];
    }

    public static string Text(int caller, int sequence) => string.Create(CultureInfo.InvariantCulture, $"{caller}:{sequence}");

    /// <summary>The (caller, sequence) of a stored hit, from the <c>text</c> custom variable that <c>Echo</c> records.</summary>
    public static (int Caller, int Sequence) Key(this StoredHit hit)
    {
        var text = hit.CustomVariable("text") ?? "-1:-1";
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? (-1, -1)
            : (int.Parse(text[..colon], CultureInfo.InvariantCulture), int.Parse(text[(colon + 1)..], CultureInfo.InvariantCulture));
    }

    public static DateTimeOffset FloorToSecond(this DateTimeOffset time) => new(time.Ticks - (time.Ticks % TimeSpan.TicksPerSecond), time.Offset);
}
