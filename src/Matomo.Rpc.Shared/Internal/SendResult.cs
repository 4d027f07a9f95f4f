namespace Matomo.Rpc.Internal;

internal enum SendStatus
{
    /// <summary>Matomo answered; <see cref="SendResult.Tracked"/> and <see cref="SendResult.Invalid"/> say what it did.</summary>
    Answered,

    /// <summary>Worth retrying as is: connection refused, timeout, 408, 429, 502, 503, 504.</summary>
    Transient,

    /// <summary>Matomo rolled the whole request back (500, or 400 for the request): split to isolate the hit that causes it.</summary>
    RolledBack,

    /// <summary>Retrying cannot help (401, 403, 404, 413, ...): the hits are counted as rejected.</summary>
    Refused,
}

internal readonly record struct SendResult(SendStatus Status, int Tracked = 0, int Invalid = 0, int StatusCode = 0, string? Reason = null, TimeSpan? RetryAfter = null)
{
    public static SendResult Ok(int tracked, int invalid = 0) => new(SendStatus.Answered, tracked, invalid);
}
