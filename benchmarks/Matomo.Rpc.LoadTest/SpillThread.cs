using System.Globalization;

namespace Matomo.Rpc.LoadTest;

/// <summary>The CPU time of the spool's spill thread ("Matomo.Rpc spool"), read from /proc on Linux.</summary>
internal static class SpillThread
{
    // Linux keeps the first 15 bytes of a thread's name.
    private const string Name = "Matomo.Rpc spoo";
    private const double TicksPerSecond = 100; // USER_HZ

    /// <summary>User + system time of the live spill thread, or null when there is none (or no /proc).</summary>
    public static TimeSpan? CpuTime()
    {
        try
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd() != Name)
                {
                    continue;
                }

                // Fields after the name in parentheses: state is field 3; utime and stime are fields 14 and 15.
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                return TimeSpan.FromSeconds(ticks / TicksPerSecond);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }
}
