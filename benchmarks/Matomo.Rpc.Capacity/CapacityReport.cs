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

    /// <summary>Every measured slot (direct: rounds of alternating slots; queued: Matomo.Rpc's one run).</summary>
    public required IReadOnlyList<Slot> Slots { get; init; }

    public required IReadOnlyList<BulkLevel> Levels { get; init; }

    public required BulkLevel Best { get; init; }

    public required double? BulkDrainSeconds { get; init; }

    public required long? BulkStoredAfterDrain { get; init; }

    public required RpcResult Rpc { get; init; }

    public bool Queued => Mode == "queued";

    /// <summary>Direct: rows stored per second of the measured window. QueuedTracking: rows stored (after processing) per active second.</summary>
    public double Delivered => Queued ? Rpc.StoredPerActiveSecond : Rpc.WindowStoredPerSecond ?? 0;

    /// <summary>Rounds of alternating slots (direct).</summary>
    public IEnumerable<int> Pairs => Slots.Select(s => s.Pair).Distinct().Order();

    /// <summary>Median over the rounds of Matomo.Rpc's hits/s / <paramref name="reference"/>'s in the same round.</summary>
    public double MedianRatio(string kind = "Matomo.Rpc", string reference = "bulk random") =>
        Median(Pairs.Select(p => CapacityRunner.Ratio(Slots, p, kind, reference)).Where(r => !double.IsNaN(r)).ToList());

    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
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
        md.AppendLine("(c) Matomo.Rpc's delivered hits/s / the bulk client's, same run");
        md.AppendLine();
        md.AppendLine("| Matomo | Matomo.Rpc hits/s | bulk client hits/s | ratio | against the bulk client with Matomo.Rpc's hits | the same, while the calls run untracked | against the first levels' best | basis |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var (mode, node) in runs)
        {
            var ratio = node!["ratio"]!;
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {mode} | {(double)ratio["matomoRpcHitsPerSecond"]!:0} | {(double)ratio["bulkHitsPerSecond"]!:0} | **{(double)ratio["value"]!:0.000}** | {Ratio(ratio["againstRpcShape"])} | {Ratio(ratio["againstRpcShapeWithCalls"])} | {Ratio(ratio["againstLevelsBest"])} | {ratio["basis"]} |");
        }

        foreach (var (mode, node) in runs.Where(r => r.Value!["slots"] is JsonArray { Count: > 1 }))
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"(d) {mode}: the slots, in the order they ran (hits/s = rows stored per second; ratio = / the bulk client's (random cid) in the same round; cores = CPU used by this process / by the whole machine; in flight = the sender's slots taken (a batch being filled included), at Matomo = the sum of answer times / the slot, i.e. the mean number of requests Matomo was working on; sent / rows stored: the slot's own site, counted after its host stopped, within its 5 s shutdown drain)");
            md.AppendLine();
            md.AppendLine("| round | slot | hits/s | ratio | calls/s | limit mean (min-max) | in flight / at Matomo | requests (full) | answer p50 / p90 ms | sent / rows stored | dropped | this process cores | Matomo cores | machine cores | hits per Matomo CPU-s |");
            md.AppendLine("|---:|---|---:|---:|---:|---|---:|---:|---|---|---:|---:|---:|---:|---:|");
            foreach (var slot in node!["slots"]!.AsArray())
            {
                var sender = slot!["sender"];
                var answers = sender is null ? Number(slot["meanAnswerMs"]) + " (mean)" : $"{Number(sender["answerP50Ms"])} / {Number(sender["answerP90Ms"])}";
                var kind = slot["concurrency"] is { } c ? $"{slot["kind"]}, {c} at a time" : (string)slot["kind"]!;
                var limit = sender is null ? " | " : string.Create(CultureInfo.InvariantCulture, $"{Number(sender["limitMean"], "0.0")} ({sender["limitMin"]}-{sender["limitMax"]}) | {Number(sender["inFlightMean"], "0.0")} / {Number(sender["atMatomoMean"], "0.0")}");
                var requests = sender is null ? slot["requests"]?.ToString() : $"{sender["requests"]} ({sender["fullBatches"]})";
                var row = string.Create(CultureInfo.InvariantCulture,
                    $"| {slot["round"]} | {kind} | {(double)slot["hitsPerSecond"]!:0} | {Ratio(slot["ratioToBulkRandom"])} | {Number(slot["callsPerSecond"])} | {limit} | {requests} | {answers} | {(slot["sent"] is null ? "" : $"{slot["sent"]} / {slot["rowsStored"]}")} | {slot["dropped"]} | {Cores(slot["processCores"])} | {Cores(slot["matomoCores"])} | {Cores(slot["machineCores"])} | {Number(slot["hitsPerMatomoCpuSecond"])} |");
                md.AppendLine(row);
            }
        }

        if (runs.Any(r => r.Value!["matomoRpc"]!["sampledOut"] is null))
        {
            md.AppendLine();
            md.AppendLine("SAMPLED OUT: n/a = MatomoStatistics has no such count yet (see RpcRun.SampledOut). ACCEPTED W/O COUNT: hits QueuedTracking took without a count (part of SENT).");
        }

        return md.ToString();
    }

    private static double? Maybe(double value, int digits = 1) => double.IsFinite(value) ? Math.Round(value, digits) : null;

    private static string Cores(JsonNode? node) => node is null ? "" : ((double)node).ToString("0.00", CultureInfo.InvariantCulture);

    private static string Ratio(JsonNode? node) => node is null ? "" : ((double)node).ToString("0.000", CultureInfo.InvariantCulture);

    private static string Count(JsonNode? node) => node is null ? "n/a" : node.ToString();

    private static string Number(JsonNode? node, string format = "0") => node is null ? "" : ((double)node).ToString(format, CultureInfo.InvariantCulture);

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
                site = rpc.Site,
                round = result.Queued ? (int?)null : result.Slots.First(x => x.Rpc == rpc).Pair,
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
            ratio = result.Queued
                ? new
                {
                    value = Math.Round(result.Delivered / result.Best.HitsPerSecond, 4),
                    matomoRpcHitsPerSecond = Round(result.Delivered),
                    bulkHitsPerSecond = Round(result.Best.HitsPerSecond),
                    basis = "queued: Matomo.Rpc's rows stored after processing per active second / the bulk client's best accepted hits/s",
                    againstRpcShape = (double?)null,
                    againstRpcShapeWithCalls = (double?)null,
                    againstLevelsBest = (double?)null,
                }
                : new
                {
                    value = Math.Round(result.MedianRatio(), 4),
                    matomoRpcHitsPerSecond = Round(CapacityResult.Median([.. result.Slots.Where(x => x.Kind == "Matomo.Rpc").Select(x => x.HitsPerSecond)])),
                    bulkHitsPerSecond = Round(CapacityResult.Median([.. result.Slots.Where(x => x.Kind == "bulk random").Select(x => x.HitsPerSecond)])),
                    basis = "direct: median over the rounds of (Matomo.Rpc's rows stored per second / the bulk client's (random cid, best concurrency) in the same round); hits/s columns: medians of the slots",
                    againstRpcShape = (double?)Math.Round(result.MedianRatio("Matomo.Rpc", "bulk rpc-shape"), 4),
                    againstRpcShapeWithCalls = (double?)Math.Round(result.MedianRatio("Matomo.Rpc", "bulk rpc-shape + calls"), 4),
                    againstLevelsBest = (double?)Math.Round(result.Delivered / result.Best.HitsPerSecond, 4),
                },
            slots = result.Slots.Select(x => new
            {
                round = x.Pair,
                kind = x.Kind,
                hitsPerSecond = Round(x.HitsPerSecond),
                ratioToBulkRandom = x.Kind != "bulk random" && !result.Queued ? Math.Round(CapacityRunner.Ratio(result.Slots, x.Pair, x.Kind), 4) : (double?)null,
                site = x.Rpc?.Site,
                concurrency = x.Bulk?.Concurrency,
                requests = x.Bulk?.Requests,
                meanAnswerMs = x.Bulk?.MeanAnswerSeconds is { } a ? Round(1000 * a) : (double?)null,
                callsPerSecond = x.Rpc is { } r0 ? Round(r0.WindowCallsPerSecond) : x.UntrackedCallsPerSecond is { } u ? Round(u) : (double?)null,
                dropped = x.Rpc?.Statistics.Dropped,
                sent = x.Rpc?.Statistics.Sent,
                rowsStored = x.Rpc?.Stored,
                sender = x.Rpc is { Figures: var f } ? new
                {
                    limitMean = Maybe(SlotFigures.Mean(f.Limits), 2),
                    limitMin = f.Limits.Count > 0 ? f.Limits.Min() : 0,
                    limitMax = f.Limits.Count > 0 ? f.Limits.Max() : 0,
                    inFlightMean = Maybe(SlotFigures.Mean(f.InFlight), 2),
                    atMatomoMean = Round(f.AnswerSeconds.Sum() / f.Seconds, 2),
                    requests = f.BatchSizes.Count,
                    fullBatches = f.BatchSizes.Count(b => b >= BulkClient.BatchSize),
                    meanBatch = Maybe(SlotFigures.Mean(f.BatchSizes)),
                    answerP50Ms = Maybe(1000 * SlotFigures.Percentile(f.AnswerSeconds, 0.5)),
                    answerP90Ms = Maybe(1000 * SlotFigures.Percentile(f.AnswerSeconds, 0.9)),
                    limits = string.Join(' ', f.Limits.Where((_, i) => i % 10 == 0)),
                } : null,
                processCores = Maybe((x.Bulk?.Figures ?? x.Rpc?.Figures)?.ProcessCores ?? double.NaN, 2),
                matomoCores = Maybe((x.Bulk?.Figures ?? x.Rpc?.Figures)?.MatomoCores ?? double.NaN, 2),
                hitsPerMatomoCpuSecond = Maybe(x.HitsPerSecond / ((x.Bulk?.Figures ?? x.Rpc?.Figures)?.MatomoCores ?? double.NaN)),
                machineCores = Maybe((x.Bulk?.Figures ?? x.Rpc?.Figures)?.MachineCores ?? double.NaN, 2),
            }),
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
