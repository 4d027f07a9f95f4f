using System.Globalization;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// One mode's Greeter host in a child process of its own, for <c>--alternate</c> (OpenTelemetry's ActivityListener is
/// process-wide, so the modes cannot share a process). The child is started from the load-test binary with the hidden
/// argument <c>--greeter MODE TRACKERURL</c>, answers "ready ADDRESS", then one line per command on stdin:
/// <c>alloc</c> (its GC.GetTotalAllocatedBytes), <c>finish</c> (waits for the sender, stops the host, answers its
/// tracker's statistics and the activities exported). Ends when stdin closes.
/// </summary>
internal sealed class GreeterProcess : IAsyncDisposable
{
    private readonly ChildProcess _child;
    private readonly string _statPath;
    private readonly double _ticksPerSecond;

    private GreeterProcess(Mode mode, ChildProcess child)
    {
        Mode = mode;
        _child = child;
        Address = child.Ready;
        _statPath = $"/proc/{child.Id}/stat";
        _ticksPerSecond = 100; // USER_HZ: 100 on Linux (x86-64 and arm64).
    }

    public Mode Mode { get; }

    public string Address { get; }

    /// <summary>
    /// The whole child's CPU time so far (user + system, every thread: the calls, the sender, the GC), read from
    /// /proc/PID/stat; Process.TotalProcessorTime where /proc is missing.
    /// </summary>
    public double CpuSeconds()
    {
        if (File.Exists(_statPath))
        {
            var stat = File.ReadAllText(_statPath);
            // Fields after the command name (which may hold spaces) start after the last ')': state is field 3,
            // utime field 14 and stime field 15, so 11 and 12 after it.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / _ticksPerSecond;
        }

        return _child.CpuTime.TotalSeconds;
    }

    public static async Task<GreeterProcess> StartAsync(Mode mode, string trackerUrl)
    {
        // The child runs as an app runs: the load test's own runtime settings (server GC, concurrent GC), nothing else.
        var child = await ChildProcess.StartAsync(
            $"the Greeter process of mode {(int)mode}",
            ["--greeter", ((int)mode).ToString(CultureInfo.InvariantCulture), trackerUrl],
            new Dictionary<string, string>(),
            TimeSpan.FromSeconds(15));
        return new GreeterProcess(mode, child);
    }

    /// <summary>Bytes the child allocated so far (all its threads).</summary>
    public async Task<long> AllocatedBytesAsync() => long.Parse(await _child.SendAsync("alloc"), CultureInfo.InvariantCulture);

    /// <summary>Waits for the child's sender to finish, stops its host, and returns its tracker's statistics (null without one) and the activities exported.</summary>
    public async Task<(MatomoStatistics? Tracking, long Activities)> FinishAsync()
    {
        var parts = (await _child.SendAsync("finish")).Split(' ');
        var activities = long.Parse(parts[0], CultureInfo.InvariantCulture);
        if (parts.Length == 1)
        {
            return (null, activities);
        }

        var n = parts.Skip(1).Select(p => long.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        return (new MatomoStatistics(n[0], n[1], n[2], n[3], n[4], (int)n[5]), activities);
    }

    public ValueTask DisposeAsync() => _child.DisposeAsync();

    /// <summary>The child process side.</summary>
    public static async Task RunChildAsync(string[] args)
    {
        var at = Array.IndexOf(args, "--greeter");
        var mode = (Mode)int.Parse(args[at + 1], CultureInfo.InvariantCulture);
        var host = await GreeterHost.StartAsync(mode, args[at + 2]);
        Console.Out.WriteLine("ready " + host.Address);
        Console.Out.Flush();
        var finished = false;
        string? line;
        while ((line = await Console.In.ReadLineAsync()) is not null)
        {
            string answer;
            switch (line)
            {
                case "alloc":
                    answer = GC.GetTotalAllocatedBytes(precise: true).ToString(CultureInfo.InvariantCulture);
                    break;
                case "finish" when !finished:
                    finished = true;
                    await host.WaitForSenderAsync(TimeSpan.FromSeconds(5));
                    await host.StopAsync();
                    var exported = (host.Activities?.Total ?? 0).ToString(CultureInfo.InvariantCulture);
                    answer = host.Tracker?.Statistics is { } s
                        ? string.Create(CultureInfo.InvariantCulture, $"{exported} {s.Queued} {s.Sent} {s.Rejected} {s.Dropped} {s.Retried} {s.QueueLength}")
                        : exported;
                    break;
                default:
                    answer = "error unknown command " + line;
                    break;
            }

            Console.Out.WriteLine(answer);
            Console.Out.Flush();
        }

        await host.DisposeAsync();
    }
}
