using System.Diagnostics;
using System.Globalization;
using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc.Tests.Support;
using Matomo.Rpc.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>One call as the client saw it: who made it, its sequence number, and when it started and ended (UTC).</summary>
public sealed record ClientCall(string Caller, int Sequence, DateTimeOffset Started, DateTimeOffset Ended, TimeSpan Duration);

/// <summary>Starts <see cref="GrpcTestHost"/> tracking into a Matomo stand-in, with <see cref="ServiceCodeInterceptor"/> as service code.</summary>
public static class ReliabilityHost
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static Task<GrpcTestHost> StartAsync(MatomoStandIn matomo, Action<MatomoOptions>? configure = null, ILoggerProvider? capture = null) =>
        GrpcTestHost.StartAsync(services =>
        {
            if (capture is not null)
            {
                services.AddLogging(logging => logging.AddProvider(capture).SetMinimumLevel(LogLevel.Trace));
            }

            services.AddSingleton<ServiceCodeRefusals>();
            services.AddMatomoTracking(o =>
            {
                o.TrackerUrl = matomo.TrackerUrl;
                o.SiteId = matomo.SiteId;
                o.AllowTokenOverHttp = true;
                o.Sending.FlushInterval = TimeSpan.FromMilliseconds(20);
                o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
                o.Sending.RetryMaxDelay = TimeSpan.FromMilliseconds(200);
                o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(5);
                configure?.Invoke(o);
            });
            services.AddGrpc(o =>
            {
                o.Interceptors.Add<MatomoInterceptor>();
                o.Interceptors.Add<ServiceCodeInterceptor>();
            });
        });

    public static MatomoTracker Tracker(this GrpcTestHost host) => host.Services.GetRequiredService<MatomoTracker>();

    /// <summary>One unary call numbered <paramref name="sequence"/> for <paramref name="caller"/>; the service records both as custom variables.</summary>
    public static async Task<ClientCall> CallAsync(this GrpcTestHost host, string caller, int sequence, Metadata? extra = null)
    {
        var headers = new Metadata
        {
            { ServiceCodeInterceptor.Caller, caller },
            { ServiceCodeInterceptor.Sequence, sequence.ToString(CultureInfo.InvariantCulture) },
        };
        foreach (var entry in extra ?? [])
        {
            headers.Add(entry);
        }

        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var reply = await host.Greeter.SayHelloAsync(new HelloRequest { Name = caller }, headers).ResponseAsync.WaitAsync(Timeout);
        var duration = clock.Elapsed;
        var ended = DateTimeOffset.UtcNow;
        Assert.That(reply.Message, Is.EqualTo("Hello " + caller));
        return new ClientCall(caller, sequence, started, ended, duration);
    }

    /// <summary>
    /// <paramref name="callers"/> callers in parallel, each making calls <paramref name="first"/> to
    /// <paramref name="first"/> + <paramref name="count"/> - 1 one after the other.
    /// </summary>
    public static async Task<IReadOnlyList<ClientCall>> RunCallersAsync(this GrpcTestHost host, int callers, int first, int count)
    {
        var work = Enumerable.Range(0, callers).Select(async c =>
        {
            var done = new List<ClientCall>(count);
            for (var i = first; i < first + count; i++)
            {
                done.Add(await host.CallAsync("caller-" + c.ToString(CultureInfo.InvariantCulture), i));
            }

            return done;
        });
        var all = await Task.WhenAll(work).WaitAsync(Timeout);
        return [.. all.SelectMany(c => c)];
    }

    /// <summary>The (caller, sequence) of a stored hit, from the custom variables the service code set.</summary>
    public static (string Caller, int Sequence) Key(this StoredHit hit) =>
        (hit.CustomVariable("caller") ?? "?", int.Parse(hit.CustomVariable("seq") ?? "-1", CultureInfo.InvariantCulture));

    /// <summary>Whole seconds, as <c>cdt</c> carries them.</summary>
    public static DateTimeOffset FloorToSecond(this DateTimeOffset time) => new(time.Ticks - (time.Ticks % TimeSpan.TicksPerSecond), time.Offset);
}
