using System.Diagnostics;

namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>A fresh temporary directory for a spool (not created: the store or tracker creates it), removed, with any lock-down undone, at dispose.</summary>
public sealed class SpoolDirectory : IDisposable
{
    private readonly List<string> _immutable = [];

    public SpoolDirectory()
    {
        Root = Path.Combine(Path.GetTempPath(), "matomo-rpc-spool-e2e", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        Spool = Path.Combine(Root, "spool");
    }

    public string Root { get; }

    public string Spool { get; }

    private static bool IsRoot => OperatingSystem.IsLinux() && File.ReadAllText("/proc/self/status").Contains("\nUid:\t0\t", StringComparison.Ordinal);

    /// <summary>Makes <paramref name="directory"/> refuse new files: mode 500, or for root (whom modes do not stop) chattr +i.</summary>
    public bool TryMakeUnwritable(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        if (!IsRoot)
        {
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            return true;
        }

        if (Run("chattr", "+i", directory) != 0)
        {
            return false;
        }

        _immutable.Add(directory);
        return true;
    }

    public void Dispose()
    {
        foreach (var directory in _immutable)
        {
            Run("chattr", "-i", directory);
        }

        if (!OperatingSystem.IsWindows())
        {
            foreach (var directory in Directory.EnumerateDirectories(Root, "*", SearchOption.AllDirectories).Prepend(Root))
            {
                File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        Directory.Delete(Root, recursive: true);
    }

    private static int Run(string file, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }

            using var process = Process.Start(info)!;
            process.WaitForExit(10_000);
            return process.HasExited ? process.ExitCode : -1;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }
}
