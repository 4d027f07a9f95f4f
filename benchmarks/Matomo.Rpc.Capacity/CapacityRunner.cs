using System.Diagnostics;

namespace Matomo.Rpc.Capacity;

/// <summary>
/// One Matomo mode (direct or QueuedTracking, whichever the kit runs). First the saturating bulk client at 1, 2 and 4
/// requests at a time (the issue's reference: a new visitor per hit). Direct Matomo: then rounds of alternating slots,
/// so that a change in the machine's load falls on both sides of a ratio: the bulk client at its best concurrency,
/// Matomo.Rpc with default options, the bulk client sending Matomo.Rpc's own hits, and Matomo.Rpc with its requests in
/// flight held fixed. QueuedTracking: Matomo.Rpc once (its accepted hits must be processed afterwards).
/// </summary>
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
        using var bulk = new BulkClient(kit, bulkSite);
        foreach (var concurrency in Concurrencies)
        {
            var level = await bulk.RunAsync(concurrency, TimeSpan.FromSeconds(settings.BulkSeconds), kit.Queued ? settings.QueuedBulkHits : long.MaxValue);
            levels.Add(level);
            Console.WriteLine($"  bulk client, {concurrency} at a time: {level.HitsPerSecond,8:0} hits/s {(kit.Queued ? "accepted" : "stored")} "
                + $"({level.Requests} requests in {level.Seconds:0.0} s, {level.Failed} hits failed, answers {1000 * level.MeanAnswerSeconds:0} ms, "
                + $"this process {level.Figures!.ProcessCores:0.00} / machine {level.Figures.MachineCores:0.00} of {level.Figures.Cores} cores)");
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
        var rate = settings.Rate > 0 ? settings.Rate : Math.Max(200, Math.Round(settings.RateFactor * best.HitsPerSecond / 10) * 10);
        var slots = new List<Slot>();
        RpcResult rpc;
        if (kit.Queued)
        {
            var window = settings.QueuedSeconds;
            Console.WriteLine($"  Matomo.Rpc: {rate:0} calls/s offered by {settings.Callers} callers ({settings.Visitors} visitors), "
                + $"{settings.WarmupSeconds:0.#} s + {window:0.#} s measured ...");
            var rpcSite = await kit.AddSiteAsync($"rpc {mode} {tag}");
            rpc = await RpcRun.RunAsync(kit, rpcSite, rate, settings, window);
            Print(rpc);
            slots.Add(new Slot(1, "Matomo.Rpc", rpc.StoredPerActiveSecond, null, rpc));
        }
        else
        {
            rpc = await RunSlotsAsync(kit, settings, mode, tag, best, bulk, rate, slots);
        }

        var result = new CapacityResult
        {
            Mode = mode,
            StartedUtc = started,
            Seconds = clock.Elapsed.TotalSeconds,
            LoadAverageBefore = loadBefore,
            LoadAverageAfter = CapacityReport.LoadAverage(),
            Quick = settings.Quick,
            BulkSite = bulkSite,
            Levels = levels,
            Best = best,
            BulkDrainSeconds = bulkDrainSeconds,
            BulkStoredAfterDrain = bulkStoredAfterDrain,
            Rpc = rpc,
            Slots = slots,
        };
        var json = await CapacityReport.MergeAsync(settings.Output, result);
        Console.WriteLine();
        Console.WriteLine(CapacityReport.Table(json, mode));
        Console.WriteLine($"JSON: {Path.GetFullPath(settings.Output)} ({mode} run took {clock.Elapsed.TotalSeconds:0} s)");
        return slots.Any(s => s.Rpc is { FailedCalls: > 0 }) ? 1 : 0;
    }

    /// <summary>Rounds of alternating slots; returns Matomo.Rpc's default run of the median round.</summary>
    private static async Task<RpcResult> RunSlotsAsync(Kit kit, CapacitySettings settings, string mode, string tag, BulkLevel best, BulkClient bulk, double rate, List<Slot> slots)
    {
        var shape = await RpcShape.CaptureAsync(settings.Visitors);
        Console.WriteLine($"  Matomo.Rpc's hit (visitor 1 of {shape.Count}): ?idsite=N&{shape[0]}&cdt=...");
        var shapeSite = await kit.AddSiteAsync($"bulk rpc-shape {mode} {tag}");
        using var shaped = new BulkClient(kit, shapeSite);
        var slotTime = TimeSpan.FromSeconds(settings.SlotSeconds);
        Console.WriteLine($"  {settings.Pairs} round(s) of slots of {settings.SlotSeconds:0.#} s measured; Matomo.Rpc offered {rate:0} calls/s "
            + $"({settings.Callers} callers, {settings.Visitors} visitors, {settings.WarmupSeconds:0.#} s warm-up); bulk client {best.Concurrency} at a time");
        for (var pair = 1; pair <= settings.Pairs; pair++)
        {
            var level = await bulk.RunAsync(best.Concurrency, slotTime, long.MaxValue);
            slots.Add(new Slot(pair, "bulk random", level.HitsPerSecond, level, null));
            Print(pair, "bulk random", level);

            await RpcSlotAsync(pair, null);

            level = await shaped.RunAsync(best.Concurrency, slotTime, long.MaxValue, shape);
            slots.Add(new Slot(pair, "bulk rpc-shape", level.HitsPerSecond, level, null));
            Print(pair, "bulk rpc-shape", level);

            // The same hits while an untracked Greeter serves the same calls: what is left to Matomo of the machine.
            (level, var calls) = await RpcRun.WithUntrackedCallsAsync(rate, settings, () => shaped.RunAsync(best.Concurrency, slotTime, long.MaxValue, shape));
            slots.Add(new Slot(pair, "bulk rpc-shape + calls", level.HitsPerSecond, level, null) { UntrackedCallsPerSecond = calls });
            Print(pair, $"bulk rpc-shape + calls", level);

            foreach (var limit in settings.FixedLimits)
            {
                await RpcSlotAsync(pair, limit);
            }
        }

        // The round whose ratio is the median stands for the run in the summary tables.
        var medianPair = slots.Where(s => s.Kind == "Matomo.Rpc").OrderBy(s => Ratio(slots, s.Pair)).ElementAt((settings.Pairs - 1) / 2).Pair;
        return slots.Single(s => s.Pair == medianPair && s.Kind == "Matomo.Rpc").Rpc!;

        async Task RpcSlotAsync(int pair, int? limit)
        {
            var kind = limit is { } n ? $"Matomo.Rpc fixed {n}" : "Matomo.Rpc";

            // A site per slot: its rows after the stop can be set against what this host counted as sent.
            var site = await kit.AddSiteAsync($"rpc {(limit is null ? "adaptive" : "fixed " + limit)} {mode} {tag} {pair}");

            var rpc = await RpcRun.RunAsync(kit, site, rate, settings, settings.SlotSeconds, limit, drainToIdle: false);
            slots.Add(new Slot(pair, kind, rpc.WindowStoredPerSecond ?? 0, null, rpc));
            Print(pair, kind, rpc);
        }
    }

    public static double Ratio(IReadOnlyList<Slot> slots, int pair, string kind = "Matomo.Rpc", string reference = "bulk random")
    {
        var rpc = slots.FirstOrDefault(s => s.Pair == pair && s.Kind == kind);
        var bulk = slots.FirstOrDefault(s => s.Pair == pair && s.Kind == reference);
        return rpc is null || bulk is null || bulk.HitsPerSecond <= 0 ? double.NaN : rpc.HitsPerSecond / bulk.HitsPerSecond;
    }

    private static void Print(int pair, string kind, BulkLevel level) =>
        Console.WriteLine($"  [{pair}] {kind,-22} {level.HitsPerSecond,6:0} hits/s stored, answers {1000 * level.MeanAnswerSeconds:0} ms, "
            + $"this process {level.Figures!.ProcessCores:0.00} / machine {level.Figures.MachineCores:0.00} of {level.Figures.Cores} cores");

    private static void Print(int pair, string kind, RpcResult rpc)
    {
        var f = rpc.Figures;
        var full = f.BatchSizes.Count(b => b >= 100);
        Console.WriteLine($"  [{pair}] {kind,-22} {rpc.WindowStoredPerSecond,6:0} hits/s stored ({rpc.WindowCallsPerSecond:0} calls/s), "
            + $"limit {SlotFigures.Mean(f.Limits):0.0} ({(f.Limits.Count > 0 ? f.Limits.Min() : 0)}-{(f.Limits.Count > 0 ? f.Limits.Max() : 0)}), in flight {SlotFigures.Mean(f.InFlight):0.0}, "
            + $"{f.BatchSizes.Count} requests ({full} full, mean {SlotFigures.Mean(f.BatchSizes):0} hits), answers p50 {1000 * SlotFigures.Percentile(f.AnswerSeconds, 0.5):0} / p90 {1000 * SlotFigures.Percentile(f.AnswerSeconds, 0.9):0} ms, "
            + $"this process {f.ProcessCores:0.00} / machine {f.MachineCores:0.00} of {f.Cores} cores; dropped {rpc.Statistics.Dropped}");
    }

    private static void Print(RpcResult rpc) => Print(1, "Matomo.Rpc", rpc);
}

/// <summary>One measured slot of a round: the bulk client (<see cref="Bulk"/>) or Matomo.Rpc (<see cref="Rpc"/>).</summary>
internal sealed record Slot(int Pair, string Kind, double HitsPerSecond, BulkLevel? Bulk, RpcResult? Rpc)
{
    /// <summary>Calls/s an untracked Greeter served during a bulk client slot (the "+ calls" slots).</summary>
    public double? UntrackedCallsPerSecond { get; init; }
}
