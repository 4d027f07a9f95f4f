using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>
/// The entry point of this test assembly when a test starts it as a child process (dotnet Matomo.Rpc.Shared.Tests.dll
/// ...): a second process on a spool directory, for the lock and SIGKILL tests. The test runner never calls it.
/// </summary>
internal static class SpoolChildProgram
{
    public const int InUse = 3;

    public static int Main(string[] args)
    {
        switch (args)
        {
            case ["spool-write", var directory]:
                // Writes batches until killed, saying after each one that it is on disk.
                using (var store = SpoolStore.Open(new SpoolSettings(directory, long.MaxValue), NullLogger.Instance))
                {
                    for (var n = 0; ; n++)
                    {
                        if (store.Write(SpoolHits.Range(n * 1000, 1000)) != SpoolWriteResult.Written)
                        {
                            return 2;
                        }

                        Console.Out.WriteLine("written " + n);
                        Console.Out.Flush();
                    }
                }

            case ["spool-open", var directory]:
                // Holds the spool until its standard input closes, or reports that another process holds it.
                try
                {
                    using var store = SpoolStore.Open(new SpoolSettings(directory, long.MaxValue), NullLogger.Instance);
                    Console.Out.WriteLine("opened");
                    Console.Out.Flush();
                    Console.In.ReadToEnd();
                    return 0;
                }
                catch (InvalidOperationException ex)
                {
                    Console.Out.WriteLine(ex.Message);
                    return InUse;
                }

            default:
                return 1;
        }
    }
}
