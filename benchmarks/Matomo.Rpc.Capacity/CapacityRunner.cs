using System.Diagnostics;

namespace Matomo.Rpc.Capacity;

/// <summary>One Matomo mode (direct or QueuedTracking, whichever the kit runs): the bulk client, then Matomo.Rpc.</summary>
internal static class CapacityRunner
{
    private static readonly int[] Concurrencies = [1, 2, 4];

    public static async Task<int> RunAsync(CapacitySettings settings)
    {
        using var kit = Kit.FromEnvironment();
        var mode = kit.Queued ? "queued" : "direct";
        var started = DateTimeOffset.UtcNow;
        var loadBefore = CapacityReport.LoadAverage();
        var clock = Stopwatch.StartNew();
        var tag = started.ToString("MMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine($"Matomo capacity, {mode} ({(kit.Queued ? "QueuedTracking: matomo.php writes to Redis" : "matomo.php writes to the database")}), "
            + $"{kit.TrackerUrl}, {(settings.Quick ? "quick" : "full")} run, load average {loadBefore}");

        // (a) the saturating bulk client
        var bulkSite = await kit.AddSiteAsync($"bulk {mode} {tag}");
        var levels = new List<BulkLevel>();
        using (var bulk = new BulkClient(kit, bulkSite))
        {
            foreach (var concurrency in Concurrencies)
            {
                var level = await bulk.RunAsync(concurrency, TimeSpan.FromSeconds(settings.BulkSeconds), kit.Queued ? settings.QueuedBulkHits : long.MaxValue);
                levels.Add(level);
                Console.WriteLine($"  bulk client, {concurrency} at a time: {level.HitsPerSecond,8:0} hits/s {(kit.Queued ? "accepted" : "stored")} "
                    + $"({level.Requests} requests in {level.Seconds:0.0} s, {level.Failed} hits failed)");
            }
        }

        double? bulkDrainSeconds = null;
        long? bulkStoredAfterDrain = null;
        if (kit.Queued)
        {
            Console.WriteLine("  processing the bulk client's queue ...");
            bulkDrainSeconds = (await kit.ProcessQueueAsync(TimeSpan.FromSeconds(settings.DrainTimeoutSeconds))).TotalSeconds;
            bulkStoredAfterDrain = await kit.CountStoredAsync(bulkSite);
            Console.WriteLine($"  queue processed: {bulkStoredAfterDrain} rows in {bulkDrainSeconds:0.0} s = {bulkStoredAfterDrain / bulkDrainSeconds:0} hits/s");
        }

        var best = levels.MaxBy(l => l.HitsPerSecond)!;

        // (b) Matomo.Rpc with default options in the Greeter host, offered more calls than Matomo takes
        var rate = settings.Rate > 0 ? settings.Rate : Math.Max(200, Math.Round(2 * best.HitsPerSecond / 10) * 10);
        var window = kit.Queued ? settings.QueuedSeconds : settings.Seconds;
        Console.WriteLine($"  Matomo.Rpc: {rate:0} calls/s offered by {settings.Callers} callers ({settings.Visitors} visitors), "
            + $"{settings.WarmupSeconds:0.#} s + {window:0.#} s measured ...");
        var rpcSite = await kit.AddSiteAsync($"rpc {mode} {tag}");
        var rpc = await RpcRun.RunAsync(kit, rpcSite, rate, settings, window);

        var result = new CapacityResult
        {
            Mode = mode,
            StartedUtc = started,
            Seconds = clock.Elapsed.TotalSeconds,
            LoadAverageBefore = loadBefore,
            LoadAverageAfter = CapacityReport.LoadAverage(),
            Quick = settings.Quick,
            BulkSite = bulkSite,
            RpcSite = rpcSite,
            Levels = levels,
            Best = best,
            BulkDrainSeconds = bulkDrainSeconds,
            BulkStoredAfterDrain = bulkStoredAfterDrain,
            Rpc = rpc,
        };
        var json = await CapacityReport.MergeAsync(settings.Output, result);
        Console.WriteLine();
        Console.WriteLine(CapacityReport.Table(json, mode));
        Console.WriteLine($"JSON: {Path.GetFullPath(settings.Output)} ({mode} run took {clock.Elapsed.TotalSeconds:0} s)");
        return rpc.FailedCalls > 0 ? 1 : 0;
    }
}
