namespace Matomo.Rpc;

/// <summary>Totals of the tracking pipeline since start (the same figures as the <c>Matomo.Rpc</c> meter).</summary>
/// <param name="Queued">Hits put in the send queue.</param>
/// <param name="Sent">
/// Hits Matomo counted as tracked (or written to the log or memory sink), and hits a Matomo with QueuedTracking accepted
/// into its queue (also in <see cref="AcceptedWithoutCount"/>).
/// </param>
/// <param name="Rejected">Hits Matomo answered as invalid or refused.</param>
/// <param name="Dropped">Hits given up before Matomo could take them (full queue, poisoned, too old, shutdown, error).</param>
/// <param name="Retried">Requests to Matomo repeated after a transient failure.</param>
/// <param name="QueueLength">Hits held now: waiting to be sent or being sent (at most <c>Matomo:Sending:QueueCapacity</c>).</param>
/// <remarks>
/// Every hit is counted once: hits of tracked calls + SpoolInherited = Sent + Rejected + Dropped + QueueLength +
/// SpoolWaiting (hits the full queue refused are in Dropped, not in Queued). A hit
/// moved to the spool (<c>Matomo:Spool</c>) leaves the queue and waits on disk until it is replayed and then sent,
/// rejected or dropped like any other; hits left in the spool by an earlier process enter this one's totals as
/// <see cref="SpoolInherited"/>, since they were never queued here. Crash Analytics hits (<c>Matomo:TrackCrashes</c>)
/// are extra hits: they are counted when sent, rejected, dropped or spooled, not when queued.
/// </remarks>
public readonly record struct MatomoStatistics(long Queued, long Sent, long Rejected, long Dropped, long Retried, int QueueLength)
{
    /// <summary>Hits this process wrote to the spool (<c>Matomo:Spool:Directory</c>) to keep them through an outage or a stop.</summary>
    public long Spooled { get; init; }

    /// <summary>Hits read back from the spool and accounted for (sent, rejected or dropped) by this process, whichever process spooled them.</summary>
    public long Replayed { get; init; }

    /// <summary>Hits in the spool now, waiting to be replayed (this process's and those it inherited).</summary>
    public long SpoolWaiting { get; init; }

    /// <summary>Hits that were in the spool when this process started: left by an earlier one, never queued in this one.</summary>
    public long SpoolInherited { get; init; }

    /// <summary>
    /// Hits counted as sent without Matomo's count of them: Matomo queued them (the QueuedTracking plugin answers a bulk
    /// request with its single-hit answer and counts nothing per hit), so they are stored only once its queue is
    /// processed, and a hit Matomo refuses then is not reported. Part of <see cref="Sent"/>.
    /// </summary>
    public long AcceptedWithoutCount { get; init; }

    /// <summary>
    /// Calls left out by sampling (<c>Matomo:Sampling</c>); not part of the hits above. Every call started and not skipped
    /// ends as exactly one of: queued (then sent, rejected, dropped, still in the queue or waiting in the spool), dropped at the queue, or sampled out.
    /// </summary>
    public long SampledOut { get; init; }

    /// <summary>Calls not tracked because the caller opted out (Sec-GPC, DNT, or the app); not part of the hits above.</summary>
    public long OptedOut { get; init; }
}
