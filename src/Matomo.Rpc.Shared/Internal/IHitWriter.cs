namespace Matomo.Rpc.Internal;

/// <summary>Where the sender puts a batch of encoded hits: Matomo over HTTP, the log, or memory.</summary>
internal interface IHitWriter
{
    /// <summary>A short description for the start-up log line; never contains the token.</summary>
    string Describe { get; }

    Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken);
}
