namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// The hits of one spool file, read back and leased to the reader: no one else gets them until the reader settles them
/// with <see cref="SpoolStore.Account"/> or gives them back with <see cref="SpoolStore.Release"/>.
/// </summary>
internal sealed class SpoolBatch
{
    private int _accounted;
    private int _finished;

    public SpoolBatch(SpoolFile file, IReadOnlyList<SpooledHit> hits)
    {
        File = file;
        Hits = hits;
    }

    public SpoolFile File { get; }

    /// <summary>The hits, in the order they were written (oldest first).</summary>
    public IReadOnlyList<SpooledHit> Hits { get; }

    /// <summary>Hits of this batch accounted for so far.</summary>
    public int Accounted => Volatile.Read(ref _accounted);

    /// <summary>True once the batch was deleted or released: it must not be used again.</summary>
    public bool IsFinished => Volatile.Read(ref _finished) == 1;

    internal int AddAccounted(int count) => Interlocked.Add(ref _accounted, count);

    internal bool TryFinish() => Interlocked.Exchange(ref _finished, 1) == 0;
}
