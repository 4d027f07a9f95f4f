namespace Matomo.Rpc.Internal;

/// <summary>
/// What one <see cref="HitDelivery.DeliverAsync"/> of a batch ended with: every hit accounted for, or a failure worth
/// trying again after a backoff (the batch keeps the hits and what delivery learned).
/// </summary>
internal readonly record struct DeliveryResult(bool Done, string? Reason = null, TimeSpan? RetryAfter = null)
{
    public static DeliveryResult Delivered => new(true);

    public static DeliveryResult RetryLater(string reason, TimeSpan? retryAfter = null) => new(false, reason, retryAfter);
}
