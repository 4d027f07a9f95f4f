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

    public ScopeServices(MatomoOptions options, TimeProvider time, HitQueue queue, ILogger logger)
    {
        Time = time;
        Queue = queue;
        KeepErrorMessages = options.TrackCrashes;
        _ignoredUserAgents = [.. options.IgnoredUserAgentPatterns.Select(MatomoOptionsValidator.CompilePattern)];
        _logger = logger;
    }

    public TimeProvider Time { get; }

    public HitQueue Queue { get; }

    /// <summary>Crash tracking is on: a failed call keeps its exception's message.</summary>
    public bool KeepErrorMessages { get; }

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
}
