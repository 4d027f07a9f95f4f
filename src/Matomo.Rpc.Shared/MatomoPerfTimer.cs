namespace Matomo.Rpc;

/// <summary>
/// Times a block into a <c>pf_*</c> parameter of the current call in whole milliseconds (the seed's <c>PerfMsTracker</c>).
/// Dispose it to stop the timer: <c>using (call.MeasurePerf("pf_srv")) { ... }</c>.
/// </summary>
public readonly struct MatomoPerfTimer : IDisposable, IEquatable<MatomoPerfTimer>
{
    private readonly MatomoCall? _call;
    private readonly string? _name;
    private readonly long _start;

    internal MatomoPerfTimer(MatomoCall? call, string? name, long start)
    {
        _call = call;
        _name = name;
        _start = start;
    }

    /// <summary>Stops the timer and records the elapsed whole milliseconds. Does nothing for an untracked call.</summary>
    public void Dispose()
    {
        if (_call is not null && _name is not null)
        {
            _call.SetPerf(_name, _call.Tracker.TimeProvider.GetElapsedTime(_start));
        }
    }

    /// <inheritdoc />
    public bool Equals(MatomoPerfTimer other) => ReferenceEquals(_call, other._call) && _name == other._name && _start == other._start;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is MatomoPerfTimer other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(_call, _name, _start);

    /// <summary>Compares two timers.</summary>
    public static bool operator ==(MatomoPerfTimer left, MatomoPerfTimer right) => left.Equals(right);

    /// <summary>Compares two timers.</summary>
    public static bool operator !=(MatomoPerfTimer left, MatomoPerfTimer right) => !left.Equals(right);
}
