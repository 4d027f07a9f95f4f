namespace Matomo.Rpc;

/// <summary>Totals of the tracking pipeline since start (the same figures as the <c>Matomo.Rpc</c> meter).</summary>
/// <param name="Queued">Hits put in the send queue.</param>
/// <param name="Sent">Hits Matomo counted as tracked (or written to the log or memory sink).</param>
/// <param name="Rejected">Hits Matomo answered as invalid or refused.</param>
/// <param name="Dropped">Hits given up before Matomo could take them (full queue, poisoned, too old, shutdown, error).</param>
/// <param name="Retried">Requests to Matomo repeated after a transient failure.</param>
/// <param name="QueueLength">Hits held now: waiting to be sent or being sent (at most <c>Matomo:Sending:QueueCapacity</c>).</param>
public readonly record struct MatomoStatistics(long Queued, long Sent, long Rejected, long Dropped, long Retried, int QueueLength)
{
    /// <summary>
    /// Calls left out by sampling (<c>Matomo:Sampling</c>); not part of the hits above. Every call started and not skipped
    /// ends as exactly one of: queued (then sent, rejected, dropped, or still in the queue), dropped at the queue, or sampled out.
    /// </summary>
    public long SampledOut { get; init; }
}
