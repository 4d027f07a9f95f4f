namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// The hits of one spool file, read back and leased to the reader: no one else gets them until the reader settles them
/// with <see cref="SpoolStore.Account"/> or gives them back with <see cref="SpoolStore.Release(SpoolBatch, SpoolRecords)"/>.
/// </summary>
internal sealed class SpoolBatch
{
    private SpoolRecords? _records;
    private SpooledHit[]? _hits;
    private int _accounted;
    private int _finished;

    public SpoolBatch(SpoolFile file, SpoolRecords records)
    {
        File = file;
        _records = records;
        Count = records.Count;
    }

    public SpoolFile File { get; }

    /// <summary>How many hits the file holds.</summary>
    public int Count { get; }

    /// <summary>
    /// The hits as strings, in the order they were written (oldest first): for tests and tools; made while the reader
    /// still has the records (see <see cref="TakeRecords"/>).
    /// </summary>
    public IReadOnlyList<SpooledHit> Hits => _hits ??= (_records ?? throw new InvalidOperationException("The batch's records were handed on.")).ToSpooledHits();

    /// <summary>The hits as read (their bytes in a pooled buffer), handed on once: the taker disposes them.</summary>
    public SpoolRecords TakeRecords() =>
        Interlocked.Exchange(ref _records, null) ?? throw new InvalidOperationException("The batch's records were already handed on.");

    /// <summary>Hits of this batch accounted for so far.</summary>
    public int Accounted => Volatile.Read(ref _accounted);

    /// <summary>True once the batch was deleted or released: it must not be used again.</summary>
    public bool IsFinished => Volatile.Read(ref _finished) == 1;

    internal int AddAccounted(int count) => Interlocked.Add(ref _accounted, count);

    internal bool TryFinish() => Interlocked.Exchange(ref _finished, 1) == 0;
}
