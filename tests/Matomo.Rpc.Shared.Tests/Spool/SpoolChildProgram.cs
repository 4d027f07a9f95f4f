using System.Diagnostics;
using System.Globalization;
using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>
/// The entry point of this test assembly when a test starts it as a child process (dotnet Matomo.Rpc.Shared.Tests.dll
/// ...): a second process on a spool directory, for the lock and SIGKILL tests. The test runner never calls it.
/// </summary>
internal static class SpoolChildProgram
{
    public const int InUse = 3;

    /// <summary>The queue capacity of the <c>host-outage</c> child.</summary>
    public const int KillQueueCapacity = 200;

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

            case ["spool-write-pause", var directory, var whole]:
                // Writes the given number of batches, then stops between the next one's fsync and its rename and says
                // so: a kill then lands mid-write for certain.
                using (var store = SpoolStore.Open(new SpoolSettings(directory, long.MaxValue), NullLogger.Instance))
                {
                    var count = int.Parse(whole, System.Globalization.CultureInfo.InvariantCulture);
                    for (var n = 0; n < count; n++)
                    {
                        if (store.Write(SpoolHits.Range(n * 1000, 1000)) != SpoolWriteResult.Written)
                        {
                            return 2;
                        }

                        Console.Out.WriteLine("written " + n);
                        Console.Out.Flush();
                    }

                    store.AfterTemporaryWritten = temp =>
                    {
                        Console.Out.WriteLine("mid-write " + temp);
                        Console.Out.Flush();
                        Thread.Sleep(Timeout.Infinite);
                    };
                    store.Write(SpoolHits.Range(count * 1000, 1000));
                    return 3; // not reached: the hook blocks until the process is killed
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

            case ["host-outage", var directory, var trackerUrl, var calls]:
                return HostOutage(directory, trackerUrl, int.Parse(calls, CultureInfo.InvariantCulture));

            default:
                return 1;
        }
    }

    /// <summary>
    /// A real host tracking into a Matomo that is down: makes <paramref name="calls"/> calls through the tracker (as an
    /// adapter does) at 500 calls/s, waits until sending has failed and hits are on disk, reports its figures in one line
    /// and waits to be killed.
    /// </summary>
    private static int HostOutage(string directory, string trackerUrl, int calls)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = Path.GetDirectoryName(directory), Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddMatomoTracking(o =>
        {
            o.TrackerUrl = trackerUrl;
            o.SiteId = 1;
            o.Sending.QueueCapacity = KillQueueCapacity;
            o.Sending.BatchSize = 100;
            o.Sending.FlushInterval = TimeSpan.FromMilliseconds(20);
            o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
            o.Sending.RetryMaxDelay = TimeSpan.FromMilliseconds(200);
            o.Spool.Directory = directory;
        });
        using var host = builder.Build();
        host.Start();
        var tracker = host.Services.GetRequiredService<MatomoTracker>();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < calls; i++)
        {
            tracker.StartCall("kill/" + i.ToString(CultureInfo.InvariantCulture), MatomoCallKind.Unary)!.Complete();
            var due = TimeSpan.FromMilliseconds(2 * (i + 1));
            if (due > clock.Elapsed + TimeSpan.FromMilliseconds(2))
            {
                Thread.Sleep(due - clock.Elapsed);
            }
        }

        var deadline = Stopwatch.StartNew();
        while (tracker.Statistics is var s && (s.Retried < 2 || s.Spooled == 0) && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(20);
        }

        var stats = tracker.Statistics;
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ready {stats.Spooled} {stats.SpoolWaiting} {stats.QueueLength} {stats.Dropped} {stats.Sent}"));
        Console.Out.Flush();
        Console.In.ReadToEnd();
        return 0;
    }
}
