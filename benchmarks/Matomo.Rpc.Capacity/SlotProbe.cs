using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace Matomo.Rpc.Capacity;

/// <summary>What one measured slot cost the machine, and what the sender did during it.</summary>
internal sealed record SlotFigures
{
    public required double Seconds { get; init; }

    /// <summary>Cores this process used (client, Greeter host and sender; or the bulk client) over the slot.</summary>
    public required double ProcessCores { get; init; }

    /// <summary>Cores the whole machine used (all processes: Matomo's PHP and MariaDB, this process, other users).</summary>
    public required double MachineCores { get; init; }

    /// <summary>
    /// Cores Matomo's own processes used (the kit's <c>php -S</c> and its workers, MariaDB), or NaN when they cannot be
    /// found (MATOMO_STATE not set): hits stored per Matomo CPU-second is what a hit costs Matomo, whatever share of
    /// the machine it got.
    /// </summary>
    public required double MatomoCores { get; init; }

    /// <summary>Cores the machine has.</summary>
    public required int Cores { get; init; }

    /// <summary>Sender's limit of requests in flight, sampled every 100 ms (empty for the bulk client).</summary>
    public required IReadOnlyList<int> Limits { get; init; }

    /// <summary>Sender's requests in flight (being filled, sent or waiting to be retried), sampled every 100 ms.</summary>
    public required IReadOnlyList<int> InFlight { get; init; }

    /// <summary>Hits per bulk request the sender sent during the slot.</summary>
    public required IReadOnlyList<int> BatchSizes { get; init; }

    /// <summary>Answer times of the sender's requests during the slot, in seconds.</summary>
    public required IReadOnlyList<double> AnswerSeconds { get; init; }

    public static double Mean<T>(IReadOnlyList<T> values)
        where T : IConvertible
        => values.Count == 0 ? double.NaN : values.Average(v => v.ToDouble(CultureInfo.InvariantCulture));

    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>
/// Records a slot: the process's and the machine's CPU time (/proc/stat), and from the Matomo.Rpc meter (when a host
/// runs) the limit and in-flight gauges every 100 ms, every batch size and every answer time.
/// </summary>
internal sealed class SlotProbe : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<int> _limits = [];
    private readonly List<int> _inFlight = [];
    private readonly List<int> _batchSizes = [];
    private readonly List<double> _answers = [];
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampling;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TimeSpan _cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly (long Busy, long Total) _machine0 = MachineTicks();
    private readonly long? _matomo0 = MatomoTicks();
    private volatile bool _recording = true;

    public SlotProbe()
    {
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == MatomoTracker.MeterName && instrument.Name is "matomo.rpc.requests.limit"
                or "matomo.rpc.requests.in_flight" or "matomo.rpc.batch.size" or "matomo.rpc.send.duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((instrument, value, _, _) =>
        {
            if (!_recording)
            {
                return;
            }

            lock (_gate)
            {
                (instrument.Name switch
                {
                    "matomo.rpc.requests.limit" => _limits,
                    "matomo.rpc.requests.in_flight" => _inFlight,
                    _ => _batchSizes,
                }).Add(value);
            }
        });
        _listener.SetMeasurementEventCallback<double>((_, value, _, _) =>
        {
            if (_recording)
            {
                lock (_gate)
                {
                    _answers.Add(value);
                }
            }
        });
        _listener.Start();
        _sampling = SampleAsync(_stop.Token);
    }

    /// <summary>Ends the slot and returns its figures (call once).</summary>
    public async Task<SlotFigures> StopAsync()
    {
        var seconds = _clock.Elapsed.TotalSeconds;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - _cpu0;
        var machine = MachineTicks();
        var matomo = MatomoTicks();
        _recording = false;
        await _stop.CancelAsync();
        await _sampling.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_gate)
        {
            var totalTicks = machine.Total - _machine0.Total;
            return new SlotFigures
            {
                Seconds = seconds,
                ProcessCores = cpu.TotalSeconds / seconds,
                MachineCores = totalTicks > 0 ? Environment.ProcessorCount * (double)(machine.Busy - _machine0.Busy) / totalTicks : double.NaN,
                MatomoCores = matomo is { } m1 && _matomo0 is { } m0 ? (m1 - m0) / (double)TicksPerSecond / seconds : double.NaN,
                Cores = Environment.ProcessorCount,
                Limits = [.. _limits],
                InFlight = [.. _inFlight],
                BatchSizes = [.. _batchSizes],
                AnswerSeconds = [.. _answers],
            };
        }
    }

    public void Dispose()
    {
        _recording = false;
        _stop.Cancel();
        _listener.Dispose();
        _stop.Dispose();
    }

    private async Task SampleAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (await timer.WaitForNextTickAsync(stop))
        {
            _listener.RecordObservableInstruments();
        }
    }

    // USER_HZ: the unit of /proc/<pid>/stat's times (100 on Linux).
    private const int TicksPerSecond = 100;

    /// <summary>User + system jiffies of the kit's php -S (its process group: the master and its workers) and MariaDB.</summary>
    private static long? MatomoTicks()
    {
        if (Environment.GetEnvironmentVariable("MATOMO_STATE") is not { Length: > 0 } state)
        {
            return null;
        }

        try
        {
            var php = int.Parse(File.ReadAllText(Path.Combine(state, "run", "php.pid")).Trim(), CultureInfo.InvariantCulture);
            var db = int.Parse(File.ReadAllText(Path.Combine(state, "mysqld", "mysqld.pid")).Trim(), CultureInfo.InvariantCulture);
            long ticks = 0;
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var pid))
                {
                    continue;
                }

                string stat;
                try
                {
                    stat = File.ReadAllText(Path.Combine(dir, "stat"));
                }
                catch (IOException)
                {
                    continue; // gone meanwhile
                }

                // After the command in parentheses: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var group = int.Parse(fields[2], CultureInfo.InvariantCulture);
                if (group == php || pid == db)
                {
                    ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                }
            }

            return ticks;
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Busy and total jiffies of all cores (the first line of /proc/stat); zeros where there is none.</summary>
    private static (long Busy, long Total) MachineTicks()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            var total = fields.Take(8).Sum(); // user nice system idle iowait irq softirq steal
            var idle = fields[3] + fields[4];
            return (total - idle, total);
        }
        catch (IOException)
        {
            return (0, 0);
        }
    }
}
