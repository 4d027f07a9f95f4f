using System.Diagnostics;
using System.Runtime.Versioning;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>A fresh directory under the system temp directory, removed (with any lock-down undone) at dispose.</summary>
[UnsupportedOSPlatform("windows")]
internal sealed class SpoolTestDirectory : IDisposable
{
    private readonly List<string> _immutable = [];

    public SpoolTestDirectory()
    {
        Root = Path.Combine(Path.GetTempPath(), "matomo-rpc-spool-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        Spool = Path.Combine(Root, "spool");
    }

    public string Root { get; }

    /// <summary>The spool directory (not created: the store creates it).</summary>
    public string Spool { get; }

    public static bool IsRoot => Environment.UserName == "root" || (OperatingSystem.IsLinux() && File.ReadAllText("/proc/self/status").Contains("\nUid:\t0\t", StringComparison.Ordinal));

    /// <summary>
    /// Makes <paramref name="directory"/> refuse new files to this process: mode 500 for a normal user; for root, whom
    /// modes do not stop, the immutable attribute (chattr +i). False when neither is possible here.
    /// </summary>
    public bool TryMakeUnwritable(string directory)
    {
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

        if (!IsRoot)
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
