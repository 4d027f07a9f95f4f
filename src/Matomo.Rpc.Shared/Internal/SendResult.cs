namespace Matomo.Rpc.Internal;

internal enum SendStatus
{
    /// <summary>Matomo answered; <see cref="SendResult.Tracked"/> and <see cref="SendResult.Invalid"/> say what it did.</summary>
    Answered,

    /// <summary>
    /// Matomo took the request without counting its hits: QueuedTracking's single-hit answer (200 with the GIF, or 204)
    /// to a bulk request. The hits are queued there and stored once the queue is processed.
    /// </summary>
    Queued,

    /// <summary>
    /// Worth retrying as is: connection refused, timeout, 408, 429, 502, 503, 504, or any other exception on the way
    /// (for example from a handler the app added to the Matomo HTTP client).
    /// </summary>
    Transient,

    /// <summary>Matomo rolled the whole request back (HTTP 500): split to isolate the hit that causes it.</summary>
    RolledBack,

    /// <summary>
    /// Retrying or splitting cannot help (400: the body was not taken as a bulk request; 401, 403, 404, 413, ...): the
    /// hits are counted as rejected.
    /// </summary>
    Refused,
}

/// <summary>
/// What one request did. <c>QueueRefused</c>: QueuedTracking refused the whole request with 400 and its GIF; it checks
/// <c>cip</c> when it takes a request, and refuses a request with a hit carrying <c>cip</c> when the token is not
/// accepted for the hit's site (nothing is queued).
/// </summary>
internal readonly record struct SendResult(SendStatus Status, int Tracked = 0, int Invalid = 0, int StatusCode = 0, string? Reason = null, TimeSpan? RetryAfter = null, bool QueueRefused = false)
{
    public static SendResult Ok(int tracked, int invalid = 0) => new(SendStatus.Answered, tracked, invalid);
}
