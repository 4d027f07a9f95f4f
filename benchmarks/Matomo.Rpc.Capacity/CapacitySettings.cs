using System.Globalization;

namespace Matomo.Rpc.Capacity;

internal sealed record CapacitySettings
{
    public const string Usage =
        "options: --quick (a smoke run: short phases) --output PATH (default artifacts/capacity.json; the run of the other "
        + "Matomo mode already in it is kept) --rate N (calls/s offered to the Greeter; default --rate-factor x the bulk client's best) "
        + "--bulk-seconds N --warmup N --callers N --visitors N --drain-timeout N (s) "
        + "--pairs N (direct: rounds of alternating slots, default 3) --slot-seconds N (measured seconds per slot, default 15) "
        + "--fixed 2,4 (direct: also Matomo.Rpc with the requests in flight held at these, in each round; 0 = none) "
        + "--rate-factor X (offered calls/s = X x the bulk client's best; default 1.3) "
        + "--table (print the table of the JSON file and exit). The kit's MATOMO_* variables must be set "
        + "(benchmarks/capacity.sh sets them).";

    public bool Quick { get; init; }

    public string Output { get; init; } = Path.Combine("artifacts", "capacity.json");

    /// <summary>Calls per second offered to the Greeter; 0 = <see cref="RateFactor"/> x the bulk client's best rate.</summary>
    public double Rate { get; init; }

    /// <summary>Length of each concurrency level of the bulk client.</summary>
    public double BulkSeconds { get; init; } = 10;

    /// <summary>With QueuedTracking, each level of the bulk client also stops after this many hits (they must be processed).</summary>
    public int QueuedBulkHits { get; init; } = 5_000;

    public double WarmupSeconds { get; init; } = 5;

    /// <summary>Measured window of the Greeter run with QueuedTracking (every accepted hit must be processed afterwards).</summary>
    public double QueuedSeconds { get; init; } = 10;

    /// <summary>Direct Matomo: rounds of alternating slots (bulk client, Matomo.Rpc, bulk client with Matomo.Rpc's hits, fixed limits).</summary>
    public int Pairs { get; init; } = 3;

    /// <summary>Measured seconds of one slot (direct Matomo).</summary>
    public double SlotSeconds { get; init; } = 15;

    /// <summary>Fixed limits of requests in flight Matomo.Rpc also runs with, in each round (direct Matomo).</summary>
    public IReadOnlyList<int> FixedLimits { get; init; } = [2, 4];

    /// <summary>Offered calls/s as a multiple of the bulk client's best hits/s (when no --rate).</summary>
    public double RateFactor { get; init; } = 1.3;

    public int Callers { get; init; } = 64;

    /// <summary>Distinct callers as Matomo.Rpc sees them (one loopback source address each, so one visitor each).</summary>
    public int Visitors { get; init; } = 16;

    public double DrainTimeoutSeconds { get; init; } = 1_200;

    public bool TableOnly { get; init; }

    public static CapacitySettings Parse(string[] args)
    {
        var settings = new CapacitySettings();
        if (args.Contains("--quick"))
        {
            settings = settings with
            {
                Quick = true,
                BulkSeconds = 5,
                QueuedBulkHits = 1_500,
                WarmupSeconds = 3,
                QueuedSeconds = 3,
                Pairs = 1,
                SlotSeconds = 8,
            };
        }

        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            settings = args[i] switch
            {
                "--quick" => settings,
                "--table" => settings with { TableOnly = true },
                "--output" => settings with { Output = Next() },
                "--rate" => settings with { Rate = Positive(Next(), "--rate") },
                "--bulk-seconds" => settings with { BulkSeconds = Positive(Next(), "--bulk-seconds") },
                "--queued-bulk-hits" => settings with { QueuedBulkHits = (int)Positive(Next(), "--queued-bulk-hits") },
                "--warmup" => settings with { WarmupSeconds = Positive(Next(), "--warmup") },
                "--seconds" or "--slot-seconds" => settings with { SlotSeconds = Positive(Next(), args[i - 1]) },
                "--queued-seconds" => settings with { QueuedSeconds = Positive(Next(), "--queued-seconds") },
                "--pairs" => settings with { Pairs = (int)Positive(Next(), "--pairs") },
                "--rate-factor" => settings with { RateFactor = Positive(Next(), "--rate-factor") },
                "--fixed" => settings with { FixedLimits = Limits(Next()) },
                "--callers" => settings with { Callers = (int)Positive(Next(), "--callers") },
                "--visitors" => settings with { Visitors = (int)Positive(Next(), "--visitors") },
                "--drain-timeout" => settings with { DrainTimeoutSeconds = Positive(Next(), "--drain-timeout") },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }

        if (settings.Visitors > 250)
        {
            throw new ArgumentException("--visitors must be at most 250 (one 127.0.0.x address each)");
        }

        return settings;
    }

    private static int[] Limits(string value) => value == "0"
        ? []
        : [.. value.Split(',').Select(v => (int)Positive(v, "--fixed"))];

    private static double Positive(string value, string name)
    {
        var number = double.Parse(value, CultureInfo.InvariantCulture);
        return number > 0 ? number : throw new ArgumentException($"{name} must be positive");
    }
}
