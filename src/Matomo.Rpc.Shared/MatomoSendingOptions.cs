using Matomo.Rpc.Internal;

namespace Matomo.Rpc;

/// <summary>How hits are queued and sent to Matomo.</summary>
public class MatomoSendingOptions
{
    /// <summary>Most hits in one bulk request. Default 100.</summary>
    [MatomoRange(1, 1000, ErrorMessage = "Matomo:Sending:BatchSize must be between 1 and 1000 (Matomo's own tools send 50 to 200 hits per bulk request).")]
    public int BatchSize { get; set; } = 100;

    /// <summary>
    /// Most hits one bulk request may grow to under load. Default 1000. While hits come faster than batches of
    /// <see cref="BatchSize"/> carry them (a batch filled, and more hits were waiting) and Matomo answers a batch so
    /// fast that one twice as large would still be answered within 0.1 s, batches double, up to this size (and about
    /// 512 KB of hits): each request costs the service about the same CPU whatever its size, so fewer, larger requests
    /// make each hit cheaper. An answer slower than 0.25 s, a failure (429, 503, a timeout, no connection, an HTTP 500),
    /// or a batch that does not fill within <see cref="FlushInterval"/> halves them back toward <see cref="BatchSize"/>. A real Matomo that stores hits as it answers (a few hundred a second per server) answers
    /// 100 hits more slowly than that, so its batches stay at <see cref="BatchSize"/>. Batches do not grow while Matomo
    /// queues hits (QueuedTracking: a bad hit there drops the rest of its request), and spooled hits are replayed in
    /// batches of <see cref="BatchSize"/>. Set it to <see cref="BatchSize"/> to keep every batch at that size.
    /// </summary>
    [MatomoRange(1, 1000, ErrorMessage = "Matomo:Sending:MaxBatchSize must be between 1 and 1000, and not below Matomo:Sending:BatchSize (set it to BatchSize to keep batches at that size).")]
    public int MaxBatchSize { get; set; } = 1000;

    /// <summary>
    /// Most bulk requests in flight at once: a ceiling. Default 4. The sender starts with one and adapts to what Matomo
    /// sustains: it sends more at once while that brings more hits per second and answers stay fast, and fewer when
    /// answers slow down, fail, or say Matomo is busy (429, 503). One visitor's hits still reach Matomo in order: a
    /// visitor's next hits wait until the request carrying its earlier ones was answered. 1 sends one request at a time.
    /// A Matomo on one PHP server with a few workers takes the most hits with 2 to 4 requests in flight; raise the
    /// ceiling for a Matomo behind several PHP servers.
    /// </summary>
    [MatomoRange(1, 16, ErrorMessage = "Matomo:Sending:MaxConcurrentRequests must be between 1 (one request at a time) and 16 (the default 4 is a ceiling: the sender adapts below it).")]
    public int MaxConcurrentRequests { get; set; } = 4;

    /// <summary>Longest time a hit waits for its batch to fill before it is sent. Default 1 second.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Most hits held, waiting to be sent or being sent (a batch that is retried counts too); beyond that, new hits are
    /// dropped and counted. Default 10,000.
    /// </summary>
    [MatomoRange(1, 10_000_000, ErrorMessage = "Matomo:Sending:QueueCapacity must be between 1 and 10000000.")]
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>Which hit is dropped when the queue is full. Default <see cref="MatomoFullQueuePolicy.DropNewest"/>.</summary>
    public MatomoFullQueuePolicy FullQueuePolicy { get; set; } = MatomoFullQueuePolicy.DropNewest;

    /// <summary>
    /// Timeout of one HTTP request to Matomo. Default 30 seconds. A request that times out is sent again, and Matomo may
    /// have stored it meanwhile: keep it well above the time a busy Matomo needs for one batch (the sender already sends
    /// fewer requests at once when answers take more than half of it).
    /// </summary>
    public TimeSpan HttpTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>First delay before a failed request is retried; it doubles up to <see cref="RetryMaxDelay"/>. Default 1 second.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest delay between retries. Default 30 seconds.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long sends to Matomo may keep failing before the health check reports <c>Degraded</c> (with the reason), and
    /// how long it stays <c>Degraded</c> after a hit was dropped. Default 30 seconds.
    /// </summary>
    public TimeSpan DegradedAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long stopping the app may spend sending the hits still queued. Default 5 seconds.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
