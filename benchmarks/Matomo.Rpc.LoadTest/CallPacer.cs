using System.Diagnostics;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// Paces one caller's share of a fixed total call rate: the callers' first turns are spread over one period, each then
/// calls once per period; a caller that fell behind by more than a second (a stall of the shared machine) goes on from
/// now instead of bursting to catch up. A period of 0 means no pacing (the caller calls again at once).
/// </summary>
internal sealed class CallPacer
{
    private readonly long _periodTicks;
    private long _due;

    /// <param name="periodTicks">Stopwatch ticks between two calls of this caller; 0: no pacing.</param>
    /// <param name="index">This caller's index among <paramref name="callers"/>, which spreads the first turns.</param>
    /// <param name="callers">The number of callers sharing the rate.</param>
    public CallPacer(long periodTicks, int index, int callers)
    {
        _periodTicks = periodTicks;
        _due = Stopwatch.GetTimestamp() + (periodTicks * index / Math.Max(1, callers));
    }

    /// <summary>Stopwatch ticks between two calls of one of <paramref name="callers"/> offering <paramref name="rate"/> calls/s in all; 0 when not paced.</summary>
    public static long PeriodFor(double? rate, int callers) => rate is { } r ? (long)(Stopwatch.Frequency * callers / r) : 0;

    /// <summary>Waits for this caller's next turn (at once when not paced).</summary>
    public async ValueTask WaitTurnAsync()
    {
        if (_periodTicks == 0)
        {
            return;
        }

        var wait = _due - Stopwatch.GetTimestamp();
        if (wait > Stopwatch.Frequency / 1000)
        {
            await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency));
        }

        _due += _periodTicks;
        if (Stopwatch.GetTimestamp() - _due > Stopwatch.Frequency)
        {
            _due = Stopwatch.GetTimestamp();
        }
    }
}
