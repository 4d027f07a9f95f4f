using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Matomo.Rpc.Capacity;

/// <summary>Everything one mode measured.</summary>
internal sealed record CapacityResult
{
    public required string Mode { get; init; }

    public required DateTimeOffset StartedUtc { get; init; }

    public required double Seconds { get; init; }

    public required string LoadAverageBefore { get; init; }

    public required string LoadAverageAfter { get; init; }

    public required bool Quick { get; init; }

    public required int BulkSite { get; init; }

    public required int RpcSite { get; init; }

    public required IReadOnlyList<BulkLevel> Levels { get; init; }

    public required BulkLevel Best { get; init; }

    public required double? BulkDrainSeconds { get; init; }

    public required long? BulkStoredAfterDrain { get; init; }

    public required RpcResult Rpc { get; init; }

    public bool Queued => Mode == "queued";

    /// <summary>Direct: rows stored per second of the measured window. QueuedTracking: rows stored (after processing) per active second.</summary>
    public double Delivered => Queued ? Rpc.StoredPerActiveSecond : Rpc.WindowStoredPerSecond ?? 0;
}

/// <summary>artifacts/capacity.json (one entry per Matomo mode, merged across the runs of capacity.sh) and its tables.</summary>
internal static class CapacityReport
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    public static async Task<string> MergeAsync(string path, CapacityResult result)
    {
        var root = File.Exists(path) ? JsonNode.Parse(await File.ReadAllTextAsync(path)) as JsonObject ?? [] : [];
        root["machine"] = Machine();
        root["runs"] = root["runs"] as JsonObject ?? [];
        root["runs"]![result.Mode] = ToJson(result);
        var json = root.ToJsonString(Indented);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await File.WriteAllTextAsync(path, json);
        return json;
    }

    public static string Table(string json, string? onlyMode = null)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        var runs = (root["runs"] as JsonObject ?? []).Where(r => onlyMode is null || r.Key == onlyMode).OrderBy(r => r.Key).ToList();
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"{root["machine"]}");
        foreach (var (mode, node) in runs)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- {mode}: {node!["startedUtc"]}, {((bool)node["quick"]! ? "quick" : "full")} run of {(double)node["seconds"]!:0} s, load average {node["loadAverageBefore"]} -> {node["loadAverageAfter"]}");
        }

        md.AppendLine();
        md.AppendLine("(a) saturating bulk client (batches of 100 hits, a random cid each): hits/s Matomo took (direct: rows stored; queued: hits accepted into the queue)");
        md.AppendLine();
        md.AppendLine("| Matomo | 1 at a time | 2 at a time | 4 at a time | best | queue processed (hits/s) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (mode, node) in runs)
        {
            var bulk = node!["bulk"]!;
            var levels = bulk["levels"]!.AsArray().Select(l => ((double)l!["hitsPerSecond"]!).ToString("0", CultureInfo.InvariantCulture)).ToList();
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {mode} | {string.Join(" | ", levels)} | {(double)bulk["bestHitsPerSecond"]!:0} | {Number(bulk["drainHitsPerSecond"])} |");
        }

        md.AppendLine();
        md.AppendLine("(b) Matomo.Rpc, default options, in the Greeter host, offered more calls than Matomo takes (counts from MatomoTracker.Statistics after the host stopped; stored = rows in matomo_log_link_visit_action for the run's own site)");
        md.AppendLine();
        md.AppendLine("| Matomo | offered calls/s | calls/s | calls made | queued | sent | rejected | dropped | retries | SAMPLED OUT | ACCEPTED W/O COUNT | unaccounted | sent/s (window) | stored/s (window) | rows stored | stored/s (active) | queue processed (hits/s) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (mode, node) in runs)
        {
            var r = node!["matomoRpc"]!;
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {mode} | {(double)r["offeredCallsPerSecond"]!:0} | {(double)r["windowCallsPerSecond"]!:0} | {r["callsMade"]} | {r["queued"]} | {r["sent"]} | {r["rejected"]} | {r["dropped"]} | {r["retried"]} | {Count(r["sampledOut"])} | {Count(r["acceptedWithoutCount"])} | {r["unaccounted"]} | {(double)r["windowSentPerSecond"]!:0} | {Number(r["windowStoredPerSecond"])} | {r["stored"]} | {(double)r["storedPerActiveSecond"]!:0} | {Number(r["drainHitsPerSecond"])} |");
        }

        md.AppendLine();
        md.AppendLine("(c) Matomo.Rpc's delivered hits/s / the bulk client's best, same run");
        md.AppendLine();
        md.AppendLine("| Matomo | Matomo.Rpc hits/s | bulk client hits/s | ratio | basis |");
        md.AppendLine("|---|---:|---:|---:|---|");
        foreach (var (mode, node) in runs)
        {
            var ratio = node!["ratio"]!;
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {mode} | {(double)ratio["matomoRpcHitsPerSecond"]!:0} | {(double)ratio["bulkHitsPerSecond"]!:0} | **{(double)ratio["value"]!:0.000}** | {ratio["basis"]} |");
        }

        if (runs.Any(r => r.Value!["matomoRpc"]!["sampledOut"] is null))
        {
            md.AppendLine();
            md.AppendLine("SAMPLED OUT: n/a = MatomoStatistics has no such count yet (see RpcRun.SampledOut). ACCEPTED W/O COUNT: hits QueuedTracking took without a count (part of SENT).");
        }

        return md.ToString();
    }

    private static string Count(JsonNode? node) => node is null ? "n/a" : node.ToString();

    private static string Number(JsonNode? node) => node is null ? "" : ((double)node).ToString("0", CultureInfo.InvariantCulture);

    private static double Round(double value, int digits = 1) => Math.Round(value, digits);

    private static JsonObject ToJson(CapacityResult result)
    {
        var rpc = result.Rpc;
        var s = rpc.Statistics;
        var bulkBasis = result.Queued ? "hits accepted into the queue per second" : "rows stored per second";
        var node = new
        {
            mode = result.Mode,
            startedUtc = result.StartedUtc.ToString("u", CultureInfo.InvariantCulture),
            seconds = Round(result.Seconds),
            loadAverageBefore = result.LoadAverageBefore,
            loadAverageAfter = result.LoadAverageAfter,
            quick = result.Quick,
            bulk = new
            {
                site = result.BulkSite,
                batchSize = BulkClient.BatchSize,
                basis = bulkBasis,
                levels = result.Levels.Select(l => new
                {
                    concurrency = l.Concurrency,
                    seconds = Round(l.Seconds, 2),
                    requests = l.Requests,
                    hitsSent = l.HitsSent,
                    tracked = l.Tracked,
                    invalid = l.Invalid,
                    accepted = l.Accepted,
                    failed = l.Failed,
                    stored = l.Stored,
                    hitsPerSecond = Round(l.HitsPerSecond),
                }),
                bestConcurrency = result.Best.Concurrency,
                bestHitsPerSecond = Round(result.Best.HitsPerSecond),
                drainSeconds = result.BulkDrainSeconds is { } d ? Round(d, 2) : (double?)null,
                storedAfterDrain = result.BulkStoredAfterDrain,
                drainHitsPerSecond = result.BulkDrainSeconds is { } ds && result.BulkStoredAfterDrain is { } st ? Round(st / ds) : (double?)null,
            },
            matomoRpc = new
            {
                site = result.RpcSite,
                options = "defaults (TrackerUrl and SiteId set)",
                offeredCallsPerSecond = Round(rpc.OfferedRate),
                callers = rpc.Callers,
                visitors = rpc.Visitors,
                callsMade = rpc.CallsMade,
                failedCalls = rpc.FailedCalls,
                windowSeconds = Round(rpc.WindowSeconds, 2),
                windowCallsPerSecond = Round(rpc.WindowCallsPerSecond),
                queued = s.Queued,
                sent = s.Sent,
                rejected = s.Rejected,
                dropped = s.Dropped,
                retried = s.Retried,
                sampledOut = rpc.SampledOut,
                acceptedWithoutCount = rpc.AcceptedWithoutCount,
                unaccounted = rpc.Unaccounted,
                windowSentPerSecond = Round(rpc.WindowSentPerSecond),
                windowStoredPerSecond = rpc.WindowStoredPerSecond is { } w ? Round(w) : (double?)null,
                activeSeconds = Round(rpc.ActiveSeconds, 2),
                senderIdle = rpc.SenderIdle,
                stored = rpc.Stored,
                storedPerActiveSecond = Round(rpc.StoredPerActiveSecond),
                drainSeconds = rpc.DrainSeconds is { } rd ? Round(rd, 2) : (double?)null,
                drainHitsPerSecond = rpc.DrainHitsPerSecond is { } rh ? Round(rh) : (double?)null,
            },
            ratio = new
            {
                value = Math.Round(result.Delivered / result.Best.HitsPerSecond, 4),
                matomoRpcHitsPerSecond = Round(result.Delivered),
                bulkHitsPerSecond = Round(result.Best.HitsPerSecond),
                basis = result.Queued
                    ? "queued: Matomo.Rpc's rows stored after processing per active second / the bulk client's best accepted hits/s"
                    : "direct: rows stored per second of the measured window, Matomo.Rpc / the bulk client's best",
            },
        };
        return JsonSerializer.SerializeToNode(node)!.AsObject();
    }

    private static string Machine()
    {
        var cpu = "unknown CPU";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException)
        {
        }

        return $"{cpu}, {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}";
    }
}
