using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Greet;
using Grpc.Core;
using Grpc.Net.Client;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// <c>--alternate</c>: every mode's Greeter host runs in a child process of its own for the whole run, and the callers
/// (in this process) switch all together from one mode's host to the next every half second (a window), round robin.
/// The machine's fast and slow states last tens of seconds, so they fall on every mode alike within a few windows; each
/// mode's cost per call is its own child's CPU (and bytes) over the whole measured span divided by the calls sent to it.
/// The callers' own CPU (this process) is the same for every mode and is in no mode's figure.
/// </summary>
internal static class AlternatingRunner
{
    private const double WindowSeconds = 0.5;

    // A block of consecutive window-cycles is the bootstrap's unit (10 cycles of 3 modes = 15 s): it keeps the
    // drift's correlation from one window to the next inside a block, so the interval reflects it.
    private const int CyclesPerBlock = 10;

    private const double WarmupSecondsPerMode = 3;
    private const int WarmupCycles = 2;
    private const int BootstrapSamples = 4000;

    public static async Task<int> RunAsync(LoadTestSettings settings)
    {
        // A mode may be given twice (--modes 1,6,7,1): its second copy runs in a process of its own, an A/A check of the
        // rig (its overhead over the first copy should come out near zero, whatever its place in the order).
        var modes = settings.Modes.ToArray();
        if (modes.FirstOrDefault(m => m is Mode.MatomoSlow or Mode.MatomoDown or Mode.NaivePerCallPost or Mode.MatomoDownSpool) is var unsupported
            && unsupported != default)
        {
            Console.Error.WriteLine($"--alternate: mode {(int)unsupported} changes the shared stand-in (slow or down) and cannot alternate with the others; use modes 1, 2, 6, 7, 9-12.");
            return 2;
        }

        var cycleCount = Math.Max(1, (int)Math.Ceiling(settings.Seconds / (WindowSeconds * modes.Length)));
        Console.WriteLine($"Matomo.Rpc load test, alternating: {settings.Callers} concurrent unary callers over {settings.Channels} channel(s) per mode, "
            + $"modes {string.Join(',', modes.Select(m => (int)m))} each in its own child process, switched every {WindowSeconds} s; "
            + $"{cycleCount} cycles ({cycleCount * modes.Length * WindowSeconds:0} s) measured after {WarmupSecondsPerMode} s warm-up per mode and {WarmupCycles} cycles; "
            + $"{Environment.ProcessorCount} cores, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC"
            + (settings.Rate is { } rate ? $", {rate:0} calls/s offered (paced)" : ", callers as fast as they go"));
        var loadBefore = Report.LoadAverage();
        Console.WriteLine($"load average {loadBefore}");

        await using var standIn = await StandInClient.StartAsync();
        var children = new List<GreeterProcess>();
        try
        {
            foreach (var mode in modes)
            {
                children.Add(await GreeterProcess.StartAsync(mode, mode is Mode.MatomoCounting or Mode.MatomoCountingLargeBatches ? standIn.CountingTrackerUrl : standIn.TrackerUrl));
            }

            var channels = children.Select(c => Enumerable.Range(0, settings.Channels).Select(_ => GrpcChannel.ForAddress(c.Address, new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            })).ToArray()).ToArray();
            var clients = channels.Select(cs => cs.Select(c => new Greeter.GreeterClient(c)).ToArray()).ToArray();
            var windowCount = cycleCount * modes.Length;
            var run = new AlternatingRun(settings.Callers, settings.Rate, modes.Length, windowCount, clients);
            var workers = Enumerable.Range(0, settings.Callers).Select(i => Task.Run(() => run.CallerAsync(i))).ToArray();

            // Warm-up: each mode alone for a few seconds (JIT, tiering, pools, connections), then a few alternating cycles.
            for (var m = 0; m < modes.Length; m++)
            {
                run.Drive(m, window: -1);
                await Task.Delay(TimeSpan.FromSeconds(WarmupSecondsPerMode));
            }

            var clock = Stopwatch.StartNew();
            var due = 0.0;
            async Task WaitWindowAsync()
            {
                due += WindowSeconds;
                var wait = due - clock.Elapsed.TotalSeconds;
                if (wait > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds(wait));
                }
            }

            for (var w = 0; w < WarmupCycles * modes.Length; w++)
            {
                run.Drive(w % modes.Length, window: -1);
                await WaitWindowAsync();
            }

            // Measured: cumulative CPU and bytes of every child at every cycle's start (and once after the last).
            var cpu = new double[cycleCount + 1, modes.Length];
            var allocated = new long[cycleCount + 1, modes.Length];
            var windowSeconds = new double[windowCount];
            async Task SampleAsync(int at)
            {
                for (var m = 0; m < children.Count; m++)
                {
                    cpu[at, m] = children[m].CpuSeconds();
                    allocated[at, m] = await children[m].AllocatedBytesAsync();
                }
            }

            Console.WriteLine($"  warmed up; measuring {cycleCount * modes.Length * WindowSeconds:0} s");
            var measuredStart = clock.Elapsed.TotalSeconds;
            for (var w = 0; w < windowCount; w++)
            {
                var windowStart = clock.Elapsed.TotalSeconds;
                run.Drive(w % modes.Length, w);
                if (w % modes.Length == 0)
                {
                    await SampleAsync(w / modes.Length);
                }

                await WaitWindowAsync();
                windowSeconds[w] = clock.Elapsed.TotalSeconds - windowStart;
                if ((w + 1) % (modes.Length * CyclesPerBlock) == 0)
                {
                    Console.WriteLine($"  {clock.Elapsed.TotalSeconds - measuredStart,5:0} s  calls so far {run.MeasuredCalls()}");
                }
            }

            run.Stop();
            await Task.WhenAll(workers);

            // The last mode's sender flushes within its flush interval (1 s) after its window: counted, as between windows.
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            await SampleAsync(cycleCount);
            foreach (var channel in channels.SelectMany(c => c))
            {
                channel.Dispose();
            }

            var finished = new List<(MatomoStatistics? Tracking, long Activities)>();
            foreach (var child in children)
            {
                finished.Add(await child.FinishAsync());
            }

            var (stored, _) = await standIn.TakeCountsAsync();
            var result = new AlternatingResult(modes, settings, cycleCount, cpu, allocated, windowSeconds, run, finished, stored, loadBefore, Report.LoadAverage());
            var (markdown, json) = result.Build();
            Console.WriteLine();
            Console.WriteLine(markdown);
            var output = Path.GetFullPath(settings.Output);
            Directory.CreateDirectory(Path.GetDirectoryName(output)!);
            await File.WriteAllTextAsync(output, json);
            Console.WriteLine($"JSON: {output}");
            return run.Failed > 0 || result.Mismatch ? 1 : 0;
        }
        finally
        {
            foreach (var child in children)
            {
                await child.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The callers: each reads which mode is driven (and which measured window it is) when it starts a call, and counts
    /// the call, once completed, in that window's mode. Recording allocates nothing.
    /// </summary>
    internal sealed class AlternatingRun
    {
        private static readonly HelloRequest Request = new() { Name = "load" };

        private readonly Greeter.GreeterClient[][] _clients;
        private readonly LatencyHistogram[][] _histograms;
        private readonly long[][] _windowCalls;
        private readonly long _periodTicks;
        private long _failed;

        // (measured window + 1) << 8 | mode index: read once per call, so a call never mixes two windows.
        private volatile int _state;
        private volatile bool _stopping;

        public AlternatingRun(int callers, double? rate, int modeCount, int windowCount, Greeter.GreeterClient[][] clients)
        {
            _clients = clients;
            _histograms = [.. Enumerable.Range(0, modeCount).Select(_ => Enumerable.Range(0, callers).Select(_ => new LatencyHistogram()).ToArray())];
            _windowCalls = [.. Enumerable.Range(0, callers).Select(_ => new long[windowCount])];
            _periodTicks = CallPacer.PeriodFor(rate, callers);
        }

        public long Failed => Interlocked.Read(ref _failed);

        public void Drive(int modeIndex, int window) => _state = ((window + 1) << 8) | modeIndex;

        public void Stop() => _stopping = true;

        /// <summary>Calls completed in window <paramref name="window"/> (read after the callers ended).</summary>
        public long WindowCalls(int window) => _windowCalls.Sum(c => c[window]);

        public long MeasuredCalls() => _windowCalls.Sum(c => c.Sum());

        public LatencyHistogram Histogram(int modeIndex)
        {
            var merged = new LatencyHistogram();
            foreach (var histogram in _histograms[modeIndex])
            {
                merged.Add(histogram);
            }

            return merged;
        }

        public async Task CallerAsync(int index)
        {
            var calls = _windowCalls[index];
            long failed = 0;
            var pacer = new CallPacer(_periodTicks, index, _windowCalls.Length);
            while (!_stopping)
            {
                await pacer.WaitTurnAsync();

                var state = _state;
                var modeIndex = state & 0xFF;
                var window = (state >> 8) - 1;
                var clients = _clients[modeIndex];
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await clients[index % clients.Length].SayHelloAsync(Request).ResponseAsync;
                }
                catch (RpcException)
                {
                    failed++;
                    continue;
                }

                if (window >= 0)
                {
                    calls[window]++;
                    _histograms[modeIndex][index].Record(Stopwatch.GetElapsedTime(started));
                }
            }

            Interlocked.Add(ref _failed, failed);
        }
    }

    /// <summary>Per mode figures over the measured span, the ratios against OpenTelemetry and their block bootstrap.</summary>
    private sealed class AlternatingResult(
        Mode[] modes,
        LoadTestSettings settings,
        int cycleCount,
        double[,] cpu,
        long[,] allocated,
        double[] windowSeconds,
        AlternatingRun run,
        List<(MatomoStatistics? Tracking, long Activities)> finished,
        long stored,
        string loadBefore,
        string loadAfter)
    {
        private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

        public bool Mismatch => SentByTrackers != stored;

        // Modes 9 and 10 hand their hits to a local writer, not to an endpoint: they are not in the check.
        private long SentByTrackers => finished.Where((_, i) => modes[i] is not (Mode.MatomoDroppedAtQueue or Mode.MatomoEncodedNotSent))
            .Sum(f => f.Tracking?.Sent ?? 0);

        public (string Markdown, string Json) Build()
        {
            var m = modes.Length;
            var blocks = BuildBlocks();
            var all = Enumerable.Range(0, blocks.Length).ToArray();
            var totals = Pool(blocks, all);
            var baseline = Array.IndexOf(modes, Mode.Baseline);
            var otel = Array.IndexOf(modes, Mode.OpenTelemetry);
            var random = new Random(13);
            var samples = Enumerable.Range(0, BootstrapSamples)
                .Select(_ => Pool(blocks, [.. Enumerable.Range(0, blocks.Length).Select(_ => random.Next(blocks.Length))]))
                .ToArray();

            var md = new StringBuilder();
            md.AppendLine(CultureInfo.InvariantCulture, $"{Report.Machine()}; alternating modes every {WindowSeconds} s, each mode's host in its own process; {settings.Callers} callers, {settings.Channels} channel(s) per mode, {(settings.Rate is { } rate ? $"{rate:0} calls/s offered (paced)" : "callers as fast as they go")}; {cycleCount} cycles = {windowSeconds.Sum():0} s measured, {blocks.Length} blocks of {CyclesPerBlock} cycles; load average {loadBefore} -> {loadAfter}");
            md.AppendLine();
            md.AppendLine("| mode | calls/s while driven | x baseline | p50 ms | p99 ms | CPU µs/call (its process) | +CPU µs/call | B/call (its process) | +B/call | +CPU / OTel's | 90 % | ≤ 0.5? | +B / OTel's | 90 % | ≤ 0.5? |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|");
            var rows = new List<object>();
            for (var i = 0; i < m; i++)
            {
                var index = i;
                var histogram = run.Histogram(i);
                var cpuOver = totals.CpuPerCall(i) - totals.CpuPerCall(baseline);
                var bytesOver = totals.BytesPerCall(i) - totals.BytesPerCall(baseline);
                var tracked = i != baseline && i != otel && otel >= 0 && baseline >= 0;
                var cpuRatio = tracked ? totals.CpuRatio(i, baseline, otel) : double.NaN;
                var bytesRatio = tracked ? totals.BytesRatio(i, baseline, otel) : double.NaN;
                var cpuInterval = tracked ? Percentiles(samples.Select(s => s.CpuRatio(i, baseline, otel))) : Interval.None;
                var bytesInterval = tracked ? Percentiles(samples.Select(s => s.BytesRatio(i, baseline, otel))) : Interval.None;
                var throughput = Percentiles(samples.Select(s => s.CallsPerSecond(i) / s.CallsPerSecond(baseline)));
                md.Append(CultureInfo.InvariantCulture,
                    $"| {Name(i)} | {totals.CallsPerSecond(i):0} | {totals.CallsPerSecond(i) / totals.CallsPerSecond(baseline):0.000} ({F(throughput, "0.000")}) | {histogram.Percentile(0.5):0.00} | {histogram.Percentile(0.99):0.00} ");
                md.Append(CultureInfo.InvariantCulture,
                    $"| {totals.CpuPerCall(i) * 1e6:0.00} | {cpuOver * 1e6:+0.00;-0.00;0.00} | {totals.BytesPerCall(i):0} | {bytesOver:+0;-0;0} ");
                md.AppendLine(tracked
                    ? $"| **{R(cpuRatio)}** | {F(cpuInterval, "0.00")} | {Overhead.AtMost(cpuInterval, 0.5)} | **{R(bytesRatio)}** | {F(bytesInterval, "0.00")} | {Overhead.AtMost(bytesInterval, 0.5)} |"
                    : "| | | | | | |");
                rows.Add(new
                {
                    mode = (int)modes[i],
                    name = modes[i].ToString(),
                    description = Name(i),
                    calls = totals.Calls[i],
                    drivenSeconds = Math.Round(totals.Seconds[i], 2),
                    callsPerSecond = Math.Round(totals.CallsPerSecond(i), 1),
                    throughputRatio = Math.Round(totals.CallsPerSecond(i) / totals.CallsPerSecond(baseline), 4),
                    throughputRatio90 = Bounds(throughput),
                    p50Ms = Math.Round(histogram.Percentile(0.5), 3),
                    p99Ms = Math.Round(histogram.Percentile(0.99), 3),
                    cpuSeconds = Math.Round(totals.Cpu[i], 2),
                    cpuMicrosPerCall = Math.Round(totals.CpuPerCall(i) * 1e6, 3),
                    cpuMicrosPerCallOverBaseline = Math.Round(cpuOver * 1e6, 3),
                    allocatedBytes = totals.Bytes[i],
                    allocatedBytesPerCall = Math.Round(totals.BytesPerCall(i), 1),
                    allocatedBytesPerCallOverBaseline = Math.Round(bytesOver, 1),
                    cpuOverheadRatioToOpenTelemetry = Finite(cpuRatio),
                    cpuOverheadRatio90 = Bounds(cpuInterval),
                    cpuAtMostHalfOfOpenTelemetry = tracked ? Overhead.AtMost(cpuInterval, 0.5) : null,
                    bytesOverheadRatioToOpenTelemetry = Finite(bytesRatio),
                    bytesOverheadRatio90 = Bounds(bytesInterval),
                    bytesAtMostHalfOfOpenTelemetry = tracked ? Overhead.AtMost(bytesInterval, 0.5) : null,
                    blockCpuMicrosPerCall = blocks.Select(b => Math.Round(b.CpuPerCall(index) * 1e6, 2)).ToArray(),
                    blockCallsPerSecond = blocks.Select(b => Math.Round(b.CallsPerSecond(index), 1)).ToArray(),
                    tracking = finished[i].Tracking is { } t ? new { t.Queued, t.Sent, t.Rejected, t.Dropped, t.Retried } : null,
                    exportedActivities = modes[i] == Mode.OpenTelemetry ? finished[i].Activities : (long?)null,
                });
            }

            md.AppendLine();
            md.AppendLine("CPU and B per call: the mode's own Greeter process over the whole measured span (its calls, its sender's work after its windows, "
                + "its GC and idle timers), divided by the calls started in its windows; + = minus the baseline's (mode 1). The callers run in the parent "
                + "process, the same for every mode, and are in no mode's figure; the counting endpoint runs in the stand-in process, not counted. "
                + $"90 %: bootstrap over blocks of {CyclesPerBlock} consecutive cycles ({CyclesPerBlock * m * WindowSeconds:0} s), so that the interval carries "
                + "the machine's drift; a goal is met when the whole interval meets it, missed when the whole interval misses it, else undecided. "
                + "x baseline: calls/s while driven over the baseline's (90 % in brackets).");

            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"Hits: the trackers sent {SentByTrackers}, the stand-in and counting endpoint counted {stored}{(Mismatch ? " — MISMATCH" : " (equal)")}; failed calls {run.Failed}.");
            for (var i = 0; i < m; i++)
            {
                if (finished[i].Tracking is { } t)
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"- {Name(i)}: queued {t.Queued}, sent {t.Sent}, rejected {t.Rejected}, dropped {t.Dropped}, retried {t.Retried}");
                }
                else if (modes[i] == Mode.OpenTelemetry)
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"- {Name(i)}: {finished[i].Activities} activities exported");
                }
            }

            var json = JsonSerializer.Serialize(new
            {
                kind = "alternating",
                machine = Report.Machine(),
                processorCount = Environment.ProcessorCount,
                serverGc = System.Runtime.GCSettings.IsServerGC,
                loadAverageBefore = loadBefore,
                loadAverageAfter = loadAfter,
                settings = new { settings.Seconds, settings.Callers, settings.Channels, settings.Rate, WindowSeconds, CyclesPerBlock, cycleCount, blocks = blocks.Length },
                measuredSeconds = Math.Round(windowSeconds.Sum(), 2),
                failedCalls = run.Failed,
                hitsSentByTrackers = SentByTrackers,
                hitsCountedByEndpoints = stored,
                modes = rows,
            }, Json);
            return (md.ToString(), json);
        }

        private string Name(int i) => modes[i].Describe() + (Array.IndexOf(modes, modes[i]) < i ? " (second process)" : string.Empty);

        private static string R(double value) => double.IsNaN(value) ? "n/a" : double.IsPositiveInfinity(value) ? "∞" : value.ToString("0.00", CultureInfo.InvariantCulture);

        private static string F(Interval interval, string format) =>
            !interval.IsKnown ? "n/a" : $"{B(interval.Low, format)}–{B(interval.High, format)}";

        private static string B(double value, string format) =>
            double.IsPositiveInfinity(value) ? "∞" : double.IsNegativeInfinity(value) ? "−∞" : value.ToString(format, CultureInfo.InvariantCulture);

        private static double? Finite(double value) => double.IsFinite(value) ? Math.Round(value, 3) : null;

        private static double?[]? Bounds(Interval interval) => interval.IsKnown ? [Finite(interval.Low), Finite(interval.High)] : null;

        /// <summary>The 5th and 95th percentiles; a resample where OpenTelemetry's overhead was not above zero counts as unbounded.</summary>
        private static Interval Percentiles(IEnumerable<double> values)
        {
            var sorted = values.Select(v => double.IsNaN(v) ? double.PositiveInfinity : v).Order().ToArray();
            return sorted.Length == 0 ? Interval.None : new Interval(sorted[(int)(0.05 * (sorted.Length - 1))], sorted[(int)Math.Ceiling(0.95 * (sorted.Length - 1))]);
        }

        private Totals[] BuildBlocks()
        {
            var m = modes.Length;
            var count = Math.Max(1, cycleCount / CyclesPerBlock);
            var blocks = new Totals[count];
            for (var b = 0; b < count; b++)
            {
                // The last block takes the cycles left over.
                var first = b * CyclesPerBlock;
                var end = b == count - 1 ? cycleCount : first + CyclesPerBlock;
                var totals = new Totals(m);
                for (var i = 0; i < m; i++)
                {
                    totals.Cpu[i] = cpu[end, i] - cpu[first, i];
                    totals.Bytes[i] = allocated[end, i] - allocated[first, i];
                    for (var c = first; c < end; c++)
                    {
                        totals.Calls[i] += run.WindowCalls((c * m) + i);
                        totals.Seconds[i] += windowSeconds[(c * m) + i];
                    }
                }

                blocks[b] = totals;
            }

            return blocks;
        }

        private Totals Pool(Totals[] blocks, int[] picks)
        {
            var pooled = new Totals(modes.Length);
            foreach (var b in picks)
            {
                for (var i = 0; i < modes.Length; i++)
                {
                    pooled.Cpu[i] += blocks[b].Cpu[i];
                    pooled.Bytes[i] += blocks[b].Bytes[i];
                    pooled.Calls[i] += blocks[b].Calls[i];
                    pooled.Seconds[i] += blocks[b].Seconds[i];
                }
            }

            return pooled;
        }
    }

    private sealed class Totals(int modes)
    {
        public double[] Cpu { get; } = new double[modes];

        public long[] Bytes { get; } = new long[modes];

        public long[] Calls { get; } = new long[modes];

        public double[] Seconds { get; } = new double[modes];

        public double CpuPerCall(int i) => Cpu[i] / Math.Max(1, Calls[i]);

        public double BytesPerCall(int i) => (double)Bytes[i] / Math.Max(1, Calls[i]);

        public double CallsPerSecond(int i) => Calls[i] / Seconds[i];

        public double CpuRatio(int i, int baseline, int peer) =>
            Overhead.Ratio(CpuPerCall(i) - CpuPerCall(baseline), CpuPerCall(peer) - CpuPerCall(baseline));

        public double BytesRatio(int i, int baseline, int peer) =>
            Overhead.Ratio(BytesPerCall(i) - BytesPerCall(baseline), BytesPerCall(peer) - BytesPerCall(baseline));
    }
}
