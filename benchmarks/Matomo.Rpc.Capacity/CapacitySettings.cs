using System.Globalization;

namespace Matomo.Rpc.Capacity;

internal sealed record CapacitySettings
{
    public const string Usage =
        "options: --quick (a smoke run: short phases) --output PATH (default artifacts/capacity.json; the run of the other "
        + "Matomo mode already in it is kept) --rate N (calls/s offered to the Greeter; default 2 x the bulk client's best) "
        + "--bulk-seconds N --warmup N --seconds N --callers N --visitors N --drain-timeout N (s) "
        + "--table (print the table of the JSON file and exit). The kit's MATOMO_* variables must be set "
        + "(benchmarks/capacity.sh sets them).";

    public bool Quick { get; init; }

    public string Output { get; init; } = Path.Combine("artifacts", "capacity.json");

    /// <summary>Calls per second offered to the Greeter; 0 = twice the bulk client's best rate.</summary>
    public double Rate { get; init; }

    /// <summary>Length of each concurrency level of the bulk client.</summary>
    public double BulkSeconds { get; init; } = 20;

    /// <summary>With QueuedTracking, each level of the bulk client also stops after this many hits (they must be processed).</summary>
    public int QueuedBulkHits { get; init; } = 5_000;

    public double WarmupSeconds { get; init; } = 5;

    /// <summary>Measured window of the Greeter run (direct Matomo).</summary>
    public double Seconds { get; init; } = 60;

    /// <summary>Measured window of the Greeter run with QueuedTracking (every accepted hit must be processed afterwards).</summary>
    public double QueuedSeconds { get; init; } = 10;

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
                Seconds = 10,
                QueuedSeconds = 3,
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
                "--seconds" => settings with { Seconds = Positive(Next(), "--seconds") },
                "--queued-seconds" => settings with { QueuedSeconds = Positive(Next(), "--queued-seconds") },
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

    private static double Positive(string value, string name)
    {
        var number = double.Parse(value, CultureInfo.InvariantCulture);
        return number > 0 ? number : throw new ArgumentException($"{name} must be positive");
    }
}
