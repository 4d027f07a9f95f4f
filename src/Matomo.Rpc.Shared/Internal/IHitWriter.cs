namespace Matomo.Rpc.Internal;

/// <summary>Where the sender puts a batch of encoded hits: Matomo over HTTP, the log, or memory.</summary>
internal interface IHitWriter
{
    /// <summary>A short description for the start-up log line; never contains the token.</summary>
    string Describe { get; }

    Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken);

    /// <summary>
    /// Whether Matomo's brute-force detection blocks this host's IP: Matomo then answers every tracking request that
    /// carries a token with HTTP 500 (as for a hit that rolls its batch back) and stores nothing, while requests without
    /// a token still go through. Asked only after such a 500; false for writers that do not send to Matomo.
    /// </summary>
    Task<bool> IsHostBlockedAsync(CancellationToken cancellationToken) => Task.FromResult(false);
}
