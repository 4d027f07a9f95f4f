namespace Matomo.Rpc;

/// <summary>
/// Times a block into a <c>pf_*</c> parameter of the current call in whole milliseconds (the seed's <c>PerfMsTracker</c>).
/// Dispose it to stop the timer: <c>using (call.MeasurePerf("pf_srv")) { ... }</c>.
/// </summary>
#pragma warning disable CA1815 // a running timer is not a value: comparing two has no meaning
public readonly struct MatomoPerfTimer : IDisposable
#pragma warning restore CA1815
{
    private readonly MatomoCallScope? _scope;
    private readonly string? _name;
    private readonly long _start;

    internal MatomoPerfTimer(MatomoCallScope scope, string name, long start)
    {
        _scope = scope;
        _name = name;
        _start = start;
    }

    /// <summary>Stops the timer and records the elapsed whole milliseconds. Does nothing for an untracked call.</summary>
    public void Dispose() => _scope?.SetPerf(_name!, _scope.Time.GetElapsedTime(_start));
}
