using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Greet;
using Grpc.Core;
using Grpc.Net.Client;
using Matomo.Rpc.LoadTest;

namespace Matomo.Rpc.Capacity;

/// <summary>What Matomo.Rpc, with its default options inside the load test's Greeter host, got into Matomo.</summary>
internal sealed record RpcResult
{
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

    public double StoredPerActiveSecond => Stored / ActiveSeconds;

    public double? DrainHitsPerSecond => DrainSeconds is { } s && s > 0 ? Stored / s : null;

    /// <summary>Calls whose hit is in none of sent, rejected, dropped (sampled out included when the library counts it).</summary>
    public long Unaccounted => CallsMade - Statistics.Sent - Statistics.Rejected - Statistics.Dropped - (SampledOut ?? 0);
}

/// <summary>
/// Drives the Greeter at a fixed offered rate (above Matomo's capacity) from callers spread over several loopback
/// source addresses, so that Matomo.Rpc's default (hashed) visitor identity sees several visitors, as a real service would.
/// </summary>
internal static class RpcRun
{
    private static readonly HelloRequest Request = new() { Name = "capacity" };

    public static async Task<RpcResult> RunAsync(Kit kit, int site, double rate, CapacitySettings settings, double windowSeconds)
    {
        var host = await GreeterHost.StartAsync(Mode.Matomo, kit.TrackerUrl, o => o.SiteId = site);
        var tracker = host.Tracker ?? throw new InvalidOperationException("no MatomoTracker in the host");
        var channels = Enumerable.Range(0, settings.Visitors).Select(v => GrpcChannel.ForAddress(host.Address, new GrpcChannelOptions
        {
            HttpHandler = BoundHandler(IPAddress.Parse($"127.0.0.{v + 2}")),
        })).ToArray();
        var clients = channels.Select(c => new Greeter.GreeterClient(c)).ToArray();

        long completed = 0;
        long failed = 0;
        var stop = false;
        var periodTicks = (long)(Stopwatch.Frequency * settings.Callers / rate);

        async Task CallerAsync(int index)
        {
            var client = clients[index % clients.Length];
            var due = Stopwatch.GetTimestamp() + (periodTicks * index / settings.Callers);
            while (!Volatile.Read(ref stop))
            {
                var wait = due - Stopwatch.GetTimestamp();
                if (wait > Stopwatch.Frequency / 1000)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency));
                }

                try
                {
                    await client.SayHelloAsync(Request).ResponseAsync;
                    Interlocked.Increment(ref completed);
                }
                catch (RpcException)
                {
                    Interlocked.Increment(ref failed);
                }

                due += periodTicks;
                var now = Stopwatch.GetTimestamp();
                if (now - due > Stopwatch.Frequency)
                {
                    // After a stall (the machine is shared), go on at the offered rate instead of bursting to catch up.
                    due = now;
                }
            }
        }

        var clock = Stopwatch.StartNew();
        var callers = Enumerable.Range(0, settings.Callers).Select(i => Task.Run(() => CallerAsync(i))).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(settings.WarmupSeconds));

        var s0 = tracker.Statistics;
        var calls0 = Interlocked.Read(ref completed);
        var stored0 = kit.Queued ? 0 : await kit.CountStoredAsync(site);
        var t0 = clock.Elapsed;
        // The sender's adaptive limit of requests in flight (matomo.rpc.requests.limit), sampled once a second.
        var limits = new List<int>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == MatomoTracker.MeterName && instrument.Name == "matomo.rpc.requests.limit")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<int>((_, value, _, _) => limits.Add(value));
            listener.Start();
            while ((clock.Elapsed - t0).TotalSeconds < windowSeconds)
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(1, windowSeconds - (clock.Elapsed - t0).TotalSeconds)));
                listener.RecordObservableInstruments();
            }
        }

        if (limits.Count > 0)
        {
            Console.WriteLine($"  Matomo.Rpc's requests in flight allowed during the window: mean {limits.Average():0.0}, {limits.Min()}-{limits.Max()} ({string.Join(" ", limits.Take(60))})");
        }

        var s1 = tracker.Statistics;
        var calls1 = Interlocked.Read(ref completed);
        var stored1 = kit.Queued ? 0 : await kit.CountStoredAsync(site);
        var window = (clock.Elapsed - t0).TotalSeconds;

        Volatile.Write(ref stop, true);
        await Task.WhenAll(callers);
        foreach (var channel in channels)
        {
            channel.Dispose();
        }

        // The queue (10,000 hits by default) is still full: let the sender deliver it, as a running service would.
        var idleTimeout = TimeSpan.FromSeconds(Math.Max(60, settings.DrainTimeoutSeconds / 4));
        await host.WaitForSenderAsync(idleTimeout);
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
            OfferedRate = rate,
            Callers = settings.Callers,
            Visitors = settings.Visitors,
            CallsMade = Interlocked.Read(ref completed),
            FailedCalls = Interlocked.Read(ref failed),
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
        };
    }

    // Calls left out by Matomo:Sampling (0 with the default rate of 1).
    private static long? SampledOut(MatomoStatistics statistics) => statistics.SampledOut;

    // ACCEPTED WITHOUT COUNT (issue 13): hits QueuedTracking accepted with its single-hit answer (part of Sent).
    private static long? AcceptedWithoutCount(MatomoStatistics statistics) => statistics.AcceptedWithoutCount;

    private static SocketsHttpHandler BoundHandler(IPAddress source) => new()
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
