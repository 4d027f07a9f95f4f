using System.Globalization;

namespace Matomo.Rpc.LoadTest;

internal sealed record LoadTestSettings
{
    public const string Usage =
        "options: --seconds N (measured seconds per mode and round, default 4) --warmup N (default 1) --rounds N (default 6) "
        + "--callers N (default 64) --channels N (default 1) --modes 1,2,... (default 1-8; 9-11 decompose mode 7, 12 mode 9) --output PATH (default artifacts/loadtest.json) "
        + "--rate N (calls/s offered in total, paced per caller; default: as fast as the callers go) "
        + "--quick (1 round of 2 s, 1 s warm-up: a smoke run) "
        + "--alternate (each mode's host in its own process, all callers switched from mode to mode every 0.5 s; --seconds is then the whole measured time, --rounds and --warmup unused)";

    public double Seconds { get; init; } = 4;

    public double WarmupSeconds { get; init; } = 1;

    public int Rounds { get; init; } = 6;

    public int Callers { get; init; } = 64;

    public int Channels { get; init; } = 1;

    /// <summary>
    /// Calls per second offered in total, each caller pacing its own share; null: every caller calls again as soon as its
    /// call returns (the CPU saturated). At a rate every mode sustains, each mode does the same work per second, and the
    /// CPU per call is not mixed up with how the saturated machine's throughput moves from slot to slot.
    /// </summary>
    public double? Rate { get; init; }

    // The decomposition modes of mode 7 (9, 10, 11) and of mode 9 (12) run when asked for: --modes 1,6,7,9,10,11,12.
    public IReadOnlyList<Mode> Modes { get; init; } = [.. Enum.GetValues<Mode>().Where(m => !m.IsDecomposition())];

    public string Output { get; init; } = Path.Combine("artifacts", "loadtest.json");

    public bool Quick { get; init; }

    /// <summary>--alternate: the modes alternate every half second, each in its own Greeter process (AlternatingRunner).</summary>
    public bool Alternate { get; init; }

    public static LoadTestSettings Parse(string[] args)
    {
        var settings = new LoadTestSettings();
        if (args.Contains("--quick"))
        {
            settings = settings with { Quick = true, Seconds = 2, WarmupSeconds = 1, Rounds = 1 };
        }

        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            settings = args[i] switch
            {
                "--quick" => settings,
                "--alternate" => settings with { Alternate = true },
                "--seconds" => settings with { Seconds = Positive(Next(), "--seconds") },
                "--warmup" => settings with { WarmupSeconds = double.Parse(Next(), CultureInfo.InvariantCulture) },
                "--rounds" => settings with { Rounds = (int)Positive(Next(), "--rounds") },
                "--callers" => settings with { Callers = (int)Positive(Next(), "--callers") },
                "--channels" => settings with { Channels = (int)Positive(Next(), "--channels") },
                "--rate" => settings with { Rate = Positive(Next(), "--rate") },
                "--output" => settings with { Output = Next() },
                "--modes" => settings with { Modes = [.. Next().Split(',').Select(m => (Mode)int.Parse(m, CultureInfo.InvariantCulture))] },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }

        if (!settings.Modes.Contains(Mode.Baseline))
        {
            settings = settings with { Modes = [Mode.Baseline, .. settings.Modes] };
        }

        return settings;
    }

    private static double Positive(string value, string name)
    {
        var number = double.Parse(value, CultureInfo.InvariantCulture);
        return number > 0 ? number : throw new ArgumentException($"{name} must be positive");
    }
}
