using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// What a call scope needs besides its own state: the clock, the queue its hit goes to and the per-call rules. One
/// per tracker, built once; scopes only read it, so a hit flows one way (scope, queue, sender).
/// </summary>
internal sealed class ScopeServices
{
    private readonly Regex[] _ignoredUserAgents;
    private readonly ILogger _logger;
    private int _parameterLimitLogged;
    private int _customVariableLimitLogged;
    private int _regexTimeoutLogged;

    // How long a pairing of the monotonic clock with the time of day is used before it is read again: the time of day of a
    // call's end is derived from the one clock read that also times the call, off by the two clocks' drift over at most
    // this long (microseconds) or until then by a step of the system clock; cdt has whole-second precision.
    private static readonly long ReanchorAfter = Stopwatch.Frequency;
    private static readonly double TicksPerTimestamp = (double)TimeSpan.TicksPerSecond / Stopwatch.Frequency;

    private readonly bool _systemClock;
    private ClockAnchor _anchor;

    public ScopeServices(MatomoOptions options, TimeProvider time, HitQueue queue, ILogger logger)
    {
        Time = time;
        _systemClock = ReferenceEquals(time, TimeProvider.System);
        _anchor = new ClockAnchor(time.GetTimestamp(), time.GetUtcNow().UtcTicks);
        Queue = queue;
        KeepErrorMessages = options.TrackCrashes;
        _ignoredUserAgents = [.. options.IgnoredUserAgentPatterns.Select(MatomoOptionsValidator.CompilePattern)];
        _logger = logger;
    }

    public TimeProvider Time { get; }

    public HitQueue Queue { get; }

    /// <summary>Crash tracking is on: a failed call keeps its exception's message.</summary>
    public bool KeepErrorMessages { get; }

    /// <summary>The callers seen recently, each one record shared by its calls' scopes.</summary>
    public CallerRecords Callers { get; } = new();

    /// <summary>
    /// The time of day (UTC) at <paramref name="timestamp"/>, a reading of <see cref="Time"/>'s timestamp taken just now.
    /// On the system clock, computed from a pairing of the two clocks made at most a second ago (a clock read saved per
    /// call); on any other <see cref="TimeProvider"/> (tests' fake clocks), its own <see cref="TimeProvider.GetUtcNow"/>.
    /// </summary>
    public DateTimeOffset UtcAt(long timestamp)
    {
        if (!_systemClock)
        {
            return Time.GetUtcNow();
        }

        var anchor = Volatile.Read(ref _anchor);
        var delta = timestamp - anchor.Timestamp;
        if (delta > ReanchorAfter || delta < -ReanchorAfter)
        {
            // The pairing is more than a second old: pair the clocks again. (A reading taken just before a pairing another
            // thread made is a small negative delta: fine.)
            anchor = new ClockAnchor(Stopwatch.GetTimestamp(), DateTime.UtcNow.Ticks);
            Volatile.Write(ref _anchor, anchor);
            delta = timestamp - anchor.Timestamp;
        }

        return new DateTimeOffset(anchor.UtcTicks + (long)(delta * TicksPerTimestamp), TimeSpan.Zero);
    }

    public bool IsIgnoredUserAgent(string userAgent) => _ignoredUserAgents.Length > 0 && MatchesAny(_ignoredUserAgents, userAgent);

    /// <summary>True when one of <paramref name="patterns"/> matches; a pattern that times out does not match (logged once).</summary>
    public bool MatchesAny(Regex[] patterns, string input)
    {
        foreach (var pattern in patterns)
        {
            try
            {
                if (pattern.IsMatch(input))
                {
                    return true;
                }
            }
            catch (RegexMatchTimeoutException)
            {
                if (Interlocked.Exchange(ref _regexTimeoutLogged, 1) == 0)
                {
                    Log.RegexTimedOut(_logger, pattern.ToString());
                }
            }
        }

        return false;
    }

    public void OnPerCallLimitReached(bool isCustomVariable, int limit)
    {
        ref var flag = ref isCustomVariable ? ref _customVariableLimitLogged : ref _parameterLimitLogged;
        if (Interlocked.Exchange(ref flag, 1) == 0)
        {
            Log.PerCallLimitReached(_logger, isCustomVariable ? "custom variables" : "parameters", limit);
        }
    }

    public void OnCompleteFailed(Exception exception) => Log.CompleteFailed(_logger, exception);

    /// <summary>A reading of the monotonic clock and of the time of day, taken together.</summary>
    private sealed record ClockAnchor(long Timestamp, long UtcTicks);
}
