namespace Matomo.Rpc.Internal;

/// <summary>How long the sender waits before it hands a failed batch to delivery again.</summary>
internal static class Backoff
{
    /// <summary>
    /// <see cref="MatomoSendingOptions.RetryBaseDelay"/> doubled per failed attempt, with ±20 % jitter, at most
    /// <see cref="MatomoSendingOptions.RetryMaxDelay"/> (jitter included); a longer <c>Retry-After</c> is honoured up to it.
    /// </summary>
    public static TimeSpan Delay(MatomoSendingOptions sending, int attempt, TimeSpan? retryAfter)
    {
        var delay = sending.RetryBaseDelay * Math.Pow(2, Math.Min(attempt, 20)) * (0.8 + (Random.Shared.NextDouble() * 0.4));
        if (delay > sending.RetryMaxDelay)
        {
            delay = sending.RetryMaxDelay;
        }

        if (retryAfter is { } after && after > delay)
        {
            delay = after > sending.RetryMaxDelay ? sending.RetryMaxDelay : after;
        }

        return delay;
    }
}
