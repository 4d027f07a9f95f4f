using System.Diagnostics;
using System.Globalization;
using Greet;
using Grpc.Core;
using Grpc.Net.Client;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// Runs every mode for a fixed time, in alternation (1 2 3 4 5 6, 1 2 3 ...), so that the machine's drift falls on
/// every mode alike. Each slot gets a fresh host; the stand-in runs in a child process for the whole run.
/// </summary>
internal static class LoadRunner
{
    private static readonly TimeSpan SlowMatomo = TimeSpan.FromMilliseconds(200);

    public static async Task<int> RunAsync(LoadTestSettings settings)
    {
        Console.WriteLine($"Matomo.Rpc load test: {settings.Callers} concurrent unary callers over {settings.Channels} channel(s), "
            + $"{settings.Rounds} round(s) of {settings.WarmupSeconds:0.#} s warm-up + {settings.Seconds:0.#} s measured per mode, "
            + $"{Environment.ProcessorCount} cores, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC"
            + (settings.Rate is { } rate ? $", {rate:0} calls/s offered (paced)" : ", callers as fast as they go"));
        var loadBefore = Report.LoadAverage();
        Console.WriteLine($"load average {loadBefore}");
        await using var standIn = await StandInClient.StartAsync();
        var results = new List<SlotResult>();
        var started = Stopwatch.StartNew();
        Console.WriteLine("  round 0 (warm-up, not counted)");
        // Round 0 warms every mode up (JIT, tiering, pools, connections) and is not counted.
        // Each counted round starts one mode further (1 6 7, 6 7 1, 7 1 6, ...): every mode takes every place in the order
        // alike, so that what the slot before leaves behind (its garbage, its sockets, the child's GC after counting)
        // does not always fall on the same mode.
        for (var round = 0; round <= settings.Rounds; round++)
        {
            var shift = round == 0 ? 0 : (round - 1) % settings.Modes.Count;
            foreach (var mode in settings.Modes.Skip(shift).Concat(settings.Modes.Take(shift)))
            {
                var result = await RunSlotAsync(mode, round, round == 0 ? settings with { Seconds = 1, WarmupSeconds = 2 } : settings, standIn);
                if (round == 0)
                {
                    continue;
                }

                results.Add(result);
                Console.WriteLine($"  round {round} {mode.Describe(),-48} {result.CallsPerSecond,9:0} calls/s  p50 {result.Latency.Percentile(0.5),7:0.00} ms  p99 {result.Latency.Percentile(0.99),7:0.00} ms"
                    + (result.FailedCalls > 0 ? $"  {result.FailedCalls} failed" : string.Empty)
                    + $"  GC pause {result.GcPauseSeconds * 1000 / result.MeasuredSeconds,5:0.0} ms/s"
                    + $"  CPU {result.CpuSeconds * 1e6 / Math.Max(1, result.MeasuredCalls),5:0.0} µs/call"
                    + (mode.UsesMatomoRpc() ? $"  endpoint {result.StandInCpuSeconds * 1e6 / Math.Max(1, result.MeasuredCalls),4:0.0} µs/call" : string.Empty)
                    + (mode is Mode.MatomoCounting or Mode.MatomoCountingLargeBatches && result.Tracking is { } sent && sent.Sent != result.StoredHits
                        ? $"  MISMATCH: the tracker counted {sent.Sent} sent, the endpoint {result.StoredHits}"
                        : string.Empty)
                    + (result.SpillThreadCpuSeconds is { } spill && result.Tracking is { } t
                        ? $"  spill thread {spill * 1000 / result.MeasuredSeconds:0} ms CPU/s, kept {(double)t.Spooled / Math.Max(1, t.Spooled + t.Dropped):P0}"
                        : string.Empty));
            }
        }

        Console.WriteLine($"done in {started.Elapsed.TotalSeconds:0} s");
        Console.WriteLine($"counting endpoint: {standIn.SlowBodies} bodies counted by a full JSON pass instead of its search (checked against that pass on the first 200)");
        PrintSpoolAgainstNoSpool(results);
        var report = Report.Build(settings, results, loadBefore, Report.LoadAverage());
        Console.WriteLine();
        Console.WriteLine(report.Markdown);
        var output = Path.GetFullPath(settings.Output);
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        await File.WriteAllTextAsync(output, report.Json);
        Console.WriteLine($"JSON: {output}");
        return results.Any(r => r.FailedCalls > 0 && r.Mode != Mode.NaivePerCallPost) ? 1 : 0;
    }

    /// <summary>Issue 14's target: with Matomo down, the spool on (mode 8) keeps the call rate of no spool (mode 4).</summary>
    private static void PrintSpoolAgainstNoSpool(List<SlotResult> results)
    {
        var down = results.Where(r => r.Mode == Mode.MatomoDown).OrderBy(r => r.Round).ToArray();
        var spool = results.Where(r => r.Mode == Mode.MatomoDownSpool).OrderBy(r => r.Round).ToArray();
        if (down.Length == 0 || down.Length != spool.Length)
        {
            return;
        }

        double Rate(SlotResult[] slots) => slots.Sum(s => s.MeasuredCalls) / slots.Sum(s => s.MeasuredSeconds);
        var ratios = down.Zip(spool, (d, s) => s.CallsPerSecond / d.CallsPerSecond).ToArray();
        var median = ratios.Order().ElementAt(ratios.Length / 2);
        var spooled = spool.Sum(s => s.Tracking?.Spooled ?? 0);
        var dropped = spool.Sum(s => s.Tracking?.Dropped ?? 0);
        var spillCpu = spool.Sum(s => s.SpillThreadCpuSeconds ?? 0);
        var spooledInWindow = spool.Sum(s => s.SpooledInWindow);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"mode 8 / mode 4 calls/s: {Rate(spool) / Rate(down):0.000} overall, median of rounds {median:0.000} (rounds {string.Join(' ', ratios.Select(r => r.ToString("0.00", CultureInfo.InvariantCulture)))}); "
            + $"mode 8 kept {(double)spooled / Math.Max(1, spooled + dropped):P1} of its hits ({dropped} dropped), "
            + $"spill thread {spillCpu * 1e6 / Math.Max(1, spooledInWindow):0.00} µs CPU per hit spooled in the measured windows; "
            + $"GC pause {down.Sum(s => s.GcPauseSeconds) * 1000 / down.Sum(s => s.MeasuredSeconds):0.0} vs {spool.Sum(s => s.GcPauseSeconds) * 1000 / spool.Sum(s => s.MeasuredSeconds):0.0} ms/s"));
    }

    private static async Task<SlotResult> RunSlotAsync(Mode mode, int round, LoadTestSettings settings, StandInClient standIn)
    {
        await standIn.SetLatencyAsync(mode is Mode.MatomoSlow or Mode.NaivePerCallPost ? SlowMatomo : TimeSpan.Zero);
        if (mode is Mode.MatomoDown or Mode.MatomoDownSpool)
        {
            await standIn.StopAsync();
        }

        var host = await GreeterHost.StartAsync(mode, mode is Mode.MatomoCounting or Mode.MatomoCountingLargeBatches ? standIn.CountingTrackerUrl : standIn.TrackerUrl);
        var channels = Enumerable.Range(0, settings.Channels).Select(_ => GrpcChannel.ForAddress(host.Address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
        })).ToArray();
        var clients = channels.Select(c => new Greeter.GreeterClient(c)).ToArray();

        var run = new SlotRun(settings.Callers, settings.Rate);
        var workers = Enumerable.Range(0, settings.Callers).Select(i => Task.Run(() => run.CallerAsync(i, clients[i % clients.Length]))).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(settings.WarmupSeconds));

        using var self = Process.GetCurrentProcess();
        var cpu0 = self.TotalProcessorTime;
        var standInCpu0 = standIn.CpuTime;
        var gen0 = GC.CollectionCount(0);
        var gen2 = GC.CollectionCount(2);
        var pause0 = GC.GetTotalPauseDuration();
        var spill0 = SpillThread.CpuTime();
        var spooled0 = host.Tracker?.Statistics.Spooled ?? 0;
        var allocated0 = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        run.Phase = SlotRun.Measuring;
        await Task.Delay(TimeSpan.FromSeconds(settings.Seconds));
        run.Phase = SlotRun.Stopping;
        await Task.WhenAll(workers);
        var elapsed = clock.Elapsed;
        var pause = GC.GetTotalPauseDuration() - pause0;
        var spill = SpillThread.CpuTime() - spill0;
        var spooledInWindow = (host.Tracker?.Statistics.Spooled ?? 0) - spooled0;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated0;
        self.Refresh();
        var cpu = self.TotalProcessorTime - cpu0;
        var standInCpu = standIn.CpuTime - standInCpu0;
        var gen0Count = GC.CollectionCount(0) - gen0;
        var gen2Count = GC.CollectionCount(2) - gen2;

        foreach (var channel in channels)
        {
            channel.Dispose();
        }

        await host.WaitForSenderAsync(TimeSpan.FromSeconds(3));
        await host.StopAsync();
        var tracking = host.Tracker?.Statistics;
        var exported = host.Activities?.Total ?? 0;
        await host.DisposeAsync();

        if (mode is Mode.MatomoDown or Mode.MatomoDownSpool)
        {
            await standIn.RestartAsync();
        }

        var (stored, requests) = await standIn.TakeCountsAsync();
        var histogram = run.Histogram;
        return new SlotResult
        {
            Mode = mode,
            Round = round,
            MeasuredCalls = histogram.Count,
            MeasuredSeconds = elapsed.TotalSeconds,
            Latency = histogram,
            AllocatedBytes = allocated,
            CpuSeconds = cpu.TotalSeconds,
            StandInCpuSeconds = standInCpu.TotalSeconds,
            Gen0 = gen0Count,
            Gen2 = gen2Count,
            GcPauseSeconds = pause.TotalSeconds,
            SpillThreadCpuSeconds = mode == Mode.MatomoDownSpool ? spill?.TotalSeconds : null,
            SpooledInWindow = spooledInWindow,
            CallsMade = run.Completed,
            FailedCalls = run.Failed,
            Tracking = tracking,
            StoredHits = stored,
            StandInRequests = requests,
            ExportedActivities = exported,
        };
    }

    /// <summary>The callers of one slot. Recording allocates nothing: histograms exist before the measurement.</summary>
    private sealed class SlotRun
    {
        public const int WarmingUp = 0;
        public const int Measuring = 1;
        public const int Stopping = 2;

        private static readonly HelloRequest Request = new() { Name = "load" };

        private readonly LatencyHistogram[] _histograms;
        private long _completed;
        private long _failed;
        private volatile int _phase;

        // Stopwatch ticks between two calls of one caller when the rate is fixed; 0: no pacing.
        private readonly long _periodTicks;

        public SlotRun(int callers, double? rate)
        {
            _histograms = [.. Enumerable.Range(0, callers).Select(_ => new LatencyHistogram())];
            _periodTicks = CallPacer.PeriodFor(rate, callers);
        }

        public int Phase
        {
            get => _phase;
            set => _phase = value;
        }

        public long Completed => Interlocked.Read(ref _completed);

        public long Failed => Interlocked.Read(ref _failed);

        public LatencyHistogram Histogram
        {
            get
            {
                var merged = new LatencyHistogram();
                foreach (var histogram in _histograms)
                {
                    merged.Add(histogram);
                }

                return merged;
            }
        }

        public async Task CallerAsync(int index, Greeter.GreeterClient client)
        {
            var histogram = _histograms[index];
            long completed = 0;
            long failed = 0;
            var pacer = new CallPacer(_periodTicks, index, _histograms.Length);
            while (_phase != Stopping)
            {
                await pacer.WaitTurnAsync();

                var measuring = _phase == Measuring;
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await client.SayHelloAsync(Request).ResponseAsync;
                }
                catch (RpcException)
                {
                    failed++;
                    continue;
                }

                completed++;
                if (measuring)
                {
                    histogram.Record(Stopwatch.GetElapsedTime(started));
                }
            }

            Interlocked.Add(ref _completed, completed);
            Interlocked.Add(ref _failed, failed);
        }
    }
}
