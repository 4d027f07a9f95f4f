namespace Matomo.Rpc.Internal;

/// <summary>
/// Hits taken from the queue together, owned by one runner until every one of them is sent, rejected or dropped. It
/// keeps what delivery learned about it across attempts: what is left to send (in order), how often it was retried,
/// and what happened to each hit.
/// </summary>
internal sealed class Batch : IDisposable
{
    // Segments still to send, the next on top: the batch's hits (split in halves when Matomo rolls them back), then each
    // crash hit alone, so that Matomo's 500 for a crash hit cannot roll back the others.
    private readonly Stack<List<PendingHit>> _segments = new();

    // The encoded queries of the batch's hits; back to the pool when the batch is done.
    private readonly HitBuffer? _buffer;

    /// <param name="hits">The hits, oldest first.</param>
    /// <param name="crashes">Crash Analytics hits, each sent alone after the others.</param>
    /// <param name="fromSpool">The spool file the hits were read from, if they were.</param>
    /// <param name="segmentSize">Most hits per request (a spool file may hold more than one batch); all in one by default.</param>
    /// <param name="buffer">Where the hits' queries are encoded (the sender's batches); returned to the pool by <see cref="Dispose"/>.</param>
    public Batch(List<PendingHit> hits, List<PendingHit> crashes, Spool.SpoolBatch? fromSpool = null, int segmentSize = int.MaxValue, HitBuffer? buffer = null)
    {
        _buffer = buffer;
        FromSpool = fromSpool;
        for (var i = crashes.Count - 1; i >= 0; i--)
        {
            _segments.Push([crashes[i]]);
        }

        if (hits.Count <= segmentSize)
        {
            if (hits.Count > 0)
            {
                _segments.Push(hits);
            }
        }
        else
        {
            for (var start = (hits.Count - 1) / segmentSize * segmentSize; start >= 0; start -= segmentSize)
            {
                _segments.Push(hits.GetRange(start, Math.Min(segmentSize, hits.Count - start)));
            }
        }

        Size = hits.Count + crashes.Count;
    }

    /// <summary>
    /// How many of its hits make a request full (the queue held more than the batch took: Matomo's answer then says what
    /// more hits per request or more requests would bring): all it took when it was taken full, <see cref="int.MaxValue"/>
    /// when it was taken at the flush interval or drain; null for hits read back from the spool (<c>BatchSize</c>).
    /// </summary>
    public int? FullAt { get; init; }

    /// <summary>
    /// More hits were waiting than the batch took (in the queue or the lanes): hits come faster than batches of its size
    /// carry them, so its fast answer may grow the next batches (see <see cref="BatchSizer"/>).
    /// </summary>
    public bool Backlogged { get; init; }

    /// <summary>The visitor lanes the batch holds while it is in flight (see <see cref="VisitorLanes"/>).</summary>
    public int[] Lanes { get; init; } = [];

    /// <summary>The spool file the hits were read from, or null for hits taken from the queue.</summary>
    public Spool.SpoolBatch? FromSpool { get; }

    /// <summary>Hits in the batch when it was taken, crash hits included.</summary>
    public int Size { get; }

    /// <summary>Hits not yet sent, rejected or dropped.</summary>
    public int Unaccounted => _segments.Sum(static s => s.Count);

    public bool IsDone => _segments.Count == 0;

    /// <summary>Failed attempts since the last answer from Matomo: the exponent of the backoff.</summary>
    public int FailedAttempts { get; set; }

    public int Sent { get; private set; }

    public int Rejected { get; private set; }

    public int Dropped { get; private set; }

    internal int RollbackRetries { get; set; }

    internal int OutageRetries { get; set; }

    /// <summary>Some part of the batch went through: a rollback is then the fault of a hit, not Matomo's trouble.</summary>
    internal bool AnyAnswered { get; set; }

    internal bool SplitLogged { get; set; }

    /// <summary>Matomo was asked whether it blocks this host after a rollback of this batch, and it does not.</summary>
    internal bool NotBlocked { get; set; }

    /// <summary>Hits of the current segment sent again without <c>cip</c> because Matomo refused the token for them.</summary>
    internal int ResentForToken { get; set; }

    internal List<PendingHit>? Next => _segments.TryPeek(out var next) ? next : null;

    internal void Pop() => _segments.Pop();

    internal void Split(List<PendingHit> segment)
    {
        var half = segment.Count / 2;
        _segments.Pop();
        _segments.Push(segment.GetRange(half, segment.Count - half));
        _segments.Push(segment.GetRange(0, half));
    }

    /// <summary>Hits of the request in flight when the shutdown deadline cut it (the first of <see cref="TakeRest"/>).</summary>
    internal int CutInFlight { get; set; }

    /// <summary>Takes every hit not yet accounted for out of the batch, the current segment first.</summary>
    internal List<PendingHit> TakeRest()
    {
        var rest = new List<PendingHit>();
        while (_segments.TryPop(out var segment))
        {
            rest.AddRange(segment);
        }

        return rest;
    }

    /// <summary>The batch is done (every hit accounted for, or given up): its hits' bytes may not be read any more.</summary>
    public void Dispose() => _buffer?.Dispose();

    internal void Count(int sent, int rejected, int dropped)
    {
        Sent += sent;
        Rejected += rejected;
        Dropped += dropped;
    }
}
