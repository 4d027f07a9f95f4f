using System.Diagnostics;
using System.Globalization;
using Matomo.Rpc.AspNetCore.Tests.Support;
using Matomo.Rpc.TestSupport;

namespace Matomo.Rpc.AspNetCore.Tests.Reliability;

/// <summary>One request as the client saw it: who made it, its sequence number, and when it started and ended (UTC).</summary>
public sealed record ClientRequest(string Caller, int Sequence, DateTimeOffset Started, DateTimeOffset Ended, TimeSpan Duration);

/// <summary>The requests of the reliability suite against <see cref="HttpTestHost"/>, as the other adapters' suites make calls.</summary>
public static class HttpReliability
{
    public static void Fast(HttpTestHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Configuration["Sending:ShutdownTimeout"] = "00:00:05";
    }

    public static async Task<ClientRequest> RequestAsync(this HttpTestHost host, string caller, int sequence)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var body = await host.Client.GetStringAsync(new Uri(string.Create(CultureInfo.InvariantCulture, $"/seq/{caller}/{sequence}"), UriKind.Relative));
        var duration = clock.Elapsed;
        Assert.That(body, Is.EqualTo("ok"));
        return new ClientRequest(caller, sequence, started, DateTimeOffset.UtcNow, duration);
    }

    /// <summary><paramref name="callers"/> callers in parallel, each making requests first..first+count-1 one after the other.</summary>
    public static async Task<IReadOnlyList<ClientRequest>> RunCallersAsync(this HttpTestHost host, int callers, int first, int count)
    {
        var work = Enumerable.Range(0, callers).Select(async c =>
        {
            var done = new List<ClientRequest>(count);
            for (var i = first; i < first + count; i++)
            {
                done.Add(await host.RequestAsync("caller-" + c.ToString(CultureInfo.InvariantCulture), i));
            }

            return done;
        });
        var all = await Task.WhenAll(work).WaitAsync(HttpTestHost.Timeout);
        return [.. all.SelectMany(c => c)];
    }

    public static (string Caller, int Sequence) Key(this StoredHit hit) =>
        (hit.CustomVariable("caller") ?? "?", int.Parse(hit.CustomVariable("seq") ?? "-1", CultureInfo.InvariantCulture));

    public static DateTimeOffset FloorToSecond(this DateTimeOffset time) => new(time.Ticks - (time.Ticks % TimeSpan.TicksPerSecond), time.Offset);
}
