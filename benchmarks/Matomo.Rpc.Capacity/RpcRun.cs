using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Greet;
using Grpc.Core;
using Grpc.Net.Client;
using Matomo.Rpc.LoadTest;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Matomo.Rpc.Capacity;

/// <summary>What Matomo.Rpc, with its default options inside the load test's Greeter host, got into Matomo.</summary>
internal sealed record RpcResult
{
    public required int Site { get; init; }

    public required double OfferedRate { get; init; }

    public required int Callers { get; init; }

    public required int Visitors { get; init; }

    public required long CallsMade { get; init; }

    public required long FailedCalls { get; init; }

    public required double WindowSeconds { get; init; }

    public required double WindowCallsPerSecond { get; init; }

    /// <summary>Hits Matomo's answers counted as tracked, per second of the window (the library's own figure).</summary>
    public required double WindowSentPerSecond { get; init; }

    /// <summary>Rows Matomo stored during the window, per second (direct only: with QueuedTracking nothing is stored yet).</summary>
    public required double? WindowStoredPerSecond { get; init; }

    /// <summary>From the first call until the sender had nothing left (or gave up waiting).</summary>
    public required double ActiveSeconds { get; init; }

    public required bool SenderIdle { get; init; }

    public required MatomoStatistics Statistics { get; init; }

    /// <summary>Calls that sampling left out; null while <see cref="MatomoStatistics"/> has no such count.</summary>
    public required long? SampledOut { get; init; }

    /// <summary>Hits Matomo accepted without counting them (QueuedTracking); null while the library has no such count.</summary>
    public required long? AcceptedWithoutCount { get; init; }

    public required long Stored { get; init; }

    public required double? DrainSeconds { get; init; }

    /// <summary>Requests in flight held fixed for the run, or null for the sender's adaptive limit (the default).</summary>
    public required int? FixedLimit { get; init; }

    /// <summary>What the machine and the sender did during the measured window.</summary>
    public required SlotFigures Figures { get; init; }

    public double StoredPerActiveSecond => Stored / ActiveSeconds;

    public double? DrainHitsPerSecond => DrainSeconds is { } s && s > 0 ? Stored / s : null;

    /// <summary>Calls whose hit is in none of sent, rejected, dropped (sampled out included when the library counts it).</summary>
    public long Unaccounted => CallsMade - Statistics.Sent - Statistics.Rejected - Statistics.Dropped - (SampledOut ?? 0);
}

/// <summary>Runs the Greeter with Matomo.Rpc under a <see cref="CallLoad"/> above Matomo's capacity.</summary>
internal static class RpcRun
{
    /// <param name="fixedLimit">Requests in flight held fixed (null: the sender's adaptive limit, as by default).</param>
    /// <param name="drainToIdle">After the window, let the sender empty its queue before the host stops (else it stops at once, within its shutdown timeout).</param>
    public static async Task<RpcResult> RunAsync(Kit kit, int site, double rate, CapacitySettings settings, double windowSeconds, int? fixedLimit = null, bool drainToIdle = true)
    {
        var host = await GreeterHost.StartAsync(Mode.Matomo, kit.TrackerUrl, o =>
        {
            o.SiteId = site;
            if (fixedLimit is { } n)
            {
                o.Sending.MaxConcurrentRequests = Math.Max(n, o.Sending.MaxConcurrentRequests);
            }
        });
        var tracker = host.Tracker ?? throw new InvalidOperationException("no MatomoTracker in the host");
        if (fixedLimit is { } limit)
        {
            host.Services.GetServices<IHostedService>().OfType<Matomo.Rpc.Internal.MatomoSender>().Single().Limiter.Fix(limit);
        }

        var clock = Stopwatch.StartNew();
        var load = CallLoad.Start(host.Address, rate, settings);
        await Task.Delay(TimeSpan.FromSeconds(settings.WarmupSeconds));

        var s0 = tracker.Statistics;
        var calls0 = load.Completed;
        var stored0 = kit.Queued ? 0 : await kit.CountStoredAsync(site);
        var t0 = clock.Elapsed;
        var probe = new SlotProbe();
        await Task.Delay(TimeSpan.FromSeconds(windowSeconds));
        var figures = await probe.StopAsync();
        probe.Dispose();

        var s1 = tracker.Statistics;
        var calls1 = load.Completed;
        var stored1 = kit.Queued ? 0 : await kit.CountStoredAsync(site);
        var window = (clock.Elapsed - t0).TotalSeconds;

        await load.StopAsync();

        // The queue (10,000 hits by default) is still full: let the sender deliver it, as a running service would.
        var idleTimeout = TimeSpan.FromSeconds(Math.Max(60, settings.DrainTimeoutSeconds / 4));
        if (drainToIdle)
        {
            await host.WaitForSenderAsync(idleTimeout);
        }

        var afterSend = tracker.Statistics;
        var idle = afterSend.QueueLength == 0 && afterSend.Sent + afterSend.Rejected + afterSend.Dropped >= afterSend.Queued;
        var active = clock.Elapsed.TotalSeconds;
        await host.StopAsync();
        var statistics = tracker.Statistics;
        await host.DisposeAsync();

        double? drainSeconds = null;
        if (kit.Queued)
        {
            Console.WriteLine("  processing the queue (QueuedTracking) ...");
            drainSeconds = (await kit.ProcessQueueAsync(TimeSpan.FromSeconds(settings.DrainTimeoutSeconds))).TotalSeconds;
        }

        var stored = await kit.CountStoredAsync(site);
        return new RpcResult
        {
            Site = site,
            OfferedRate = rate,
            Callers = settings.Callers,
            Visitors = settings.Visitors,
            CallsMade = load.Completed,
            FailedCalls = load.Failed,
            WindowSeconds = window,
            WindowCallsPerSecond = (calls1 - calls0) / window,
            WindowSentPerSecond = (s1.Sent - s0.Sent) / window,
            WindowStoredPerSecond = kit.Queued ? null : (stored1 - stored0) / window,
            ActiveSeconds = active,
            SenderIdle = idle,
            Statistics = statistics,
            SampledOut = SampledOut(statistics),
            AcceptedWithoutCount = AcceptedWithoutCount(statistics),
            Stored = stored,
            DrainSeconds = drainSeconds,
            FixedLimit = fixedLimit,
            Figures = figures,
        };
    }

    // Calls left out by Matomo:Sampling (0 with the default rate of 1).
    private static long? SampledOut(MatomoStatistics statistics) => statistics.SampledOut;

    // ACCEPTED WITHOUT COUNT (issue 13): hits QueuedTracking accepted with its single-hit answer (part of Sent).
    private static long? AcceptedWithoutCount(MatomoStatistics statistics) => statistics.AcceptedWithoutCount;

    /// <summary>
    /// Runs <paramref name="during"/> (a bulk client level) while an untracked Greeter host serves the same calls as a
    /// Matomo.Rpc run: the machine's load without tracking, so that the bulk client's figure bears the calls' CPU too.
    /// </summary>
    public static async Task<(T Result, double CallsPerSecond)> WithUntrackedCallsAsync<T>(double rate, CapacitySettings settings, Func<Task<T>> during)
    {
        var host = await GreeterHost.StartAsync(Mode.Baseline, "http://127.0.0.1:9/unused");
        await using (host)
        {
            var load = CallLoad.Start(host.Address, rate, settings);
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(2, settings.WarmupSeconds)));
            var calls0 = load.Completed;
            var clock = Stopwatch.StartNew();
            var result = await during();
            var callsPerSecond = (load.Completed - calls0) / clock.Elapsed.TotalSeconds;
            await load.StopAsync();
            await host.StopAsync();
            return load.Failed > 0 ? throw new InvalidOperationException($"{load.Failed} untracked calls failed") : (result, callsPerSecond);
        }
    }

    /// <summary>The loopback source address of visitor <paramref name="index"/> (127.0.0.2, 127.0.0.3, ...).</summary>
    public static IPAddress VisitorAddress(int index) => IPAddress.Parse($"127.0.0.{index + 2}");

    public static SocketsHttpHandler BoundHandler(IPAddress source) => new()
    {
        EnableMultipleHttp2Connections = true,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
