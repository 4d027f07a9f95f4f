using System.Runtime.InteropServices;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Lowers the CPU priority of a thread of the library's own whose work can wait (the spool's spill thread), so that
/// when calls keep every core busy the scheduler gives the cores to the calls first and the thread takes what is left.
/// </summary>
/// <remarks>
/// <see cref="Thread.Priority"/> is honoured on Windows only: on Linux .NET leaves every thread at nice 0, so there the
/// thread's own nice value is raised with <c>setpriority(PRIO_PROCESS, gettid(), …)</c>, which needs no privilege.
/// Elsewhere (macOS), or where libc cannot be called, the thread keeps its priority.
/// </remarks>
internal static partial class BackgroundPriority
{
    /// <summary>The nice value given on Linux: a tenth of a nice-0 thread's weight when both want the same core.</summary>
    public const int LinuxNice = 10;

    private const int PrioProcess = 0;

    /// <summary>Lowers the calling thread's priority; true when the operating system took it.</summary>
    public static bool LowerCurrentThread()
    {
        if (!OperatingSystem.IsLinux())
        {
            Thread.CurrentThread.Priority = ThreadPriority.BelowNormal;
            return OperatingSystem.IsWindows();
        }

        try
        {
            return SetPriority(PrioProcess, GetThreadId(), LinuxNice) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, int who, int priority);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetThreadId();
}
