using System.Diagnostics;
using System.Globalization;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// <see cref="SpoolBenchmarks"/>' operations timed by this thread's time on a CPU (user + kernel, from /proc/thread-self/schedstat) rather than by the clock:
/// on a shared machine whose cores other processes keep busy, BenchmarkDotNet's wall-clock times grow with the wait for
/// a core, while the CPU a spilled hit costs (what it takes from the calls on a saturated machine) does not. Linux only.
/// Run: <c>dotnet run -c Release --project benchmarks/Matomo.Rpc.Benchmarks -- --spool-cpu</c>.
/// </summary>
internal static class SpoolCpuCost
{
    public static void Run()
    {
        Console.WriteLine($"Spool CPU per hit (this thread's user + system time; 1,000-hit files; {Environment.ProcessorCount} cores, load average {LoadAverage()})");
        foreach (var compressed in new[] { true, false })
        {
            var bench = new SpoolBenchmarks { Compressed = compressed };
            bench.Setup();
            try
            {
                Measure(compressed, "spill, encode: hits into records", bench.Encode);
                Measure(compressed, "spill, encode + file bytes, no disk", bench.EncodeFile);
                Measure(compressed, "spill as before: a string per hit, no disk", bench.EncodeAsBefore);
                Measure(compressed, "spill to disk: + write, fsync, rename", bench.Spill);
                Measure(compressed, "replay: file to batch", bench.Replay);
            }
            finally
            {
                bench.Cleanup();
            }
        }
    }

    private static void Measure(bool compressed, string name, Func<int> operation)
    {
        for (var i = 0; i < 20; i++)
        {
            operation();
        }

        var allocated0 = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var cpu0 = ThreadCpuNanoseconds();
        var files = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(2) || files < 20)
        {
            operation();
            files++;
        }

        var cpu = ThreadCpuNanoseconds() - cpu0;
        var wall = clock.Elapsed.TotalMilliseconds * 1e6;
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocated0;
        var hits = (double)files * SpoolBenchmarks.FileHits;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {(compressed ? "Brotli" : "none  ")}  {name,-44} {cpu / hits,8:0} ns CPU/hit ({hits * 1e9 / cpu,10:N0} hits/s of CPU)  wall {wall / hits,8:0} ns/hit  {allocated / hits,6:0} B/hit allocated"));
    }

    /// <summary>Time this thread ran on a CPU, in ns: the first field of /proc/thread-self/schedstat.</summary>
    private static long ThreadCpuNanoseconds() =>
        long.Parse(File.ReadAllText("/proc/thread-self/schedstat").Split(' ')[0], CultureInfo.InvariantCulture);

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
