using System.Diagnostics.CodeAnalysis;

namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// The store's in-memory index of the batch files waiting: one entry per file, oldest (lowest sequence) first, with
/// the bytes and hits of all of them. Not thread-safe: the store uses it under its gate.
/// </summary>
internal sealed class SpoolIndex
{
    private readonly SortedDictionary<long, Entry> _files = [];

    /// <summary>What the store is doing with a file.</summary>
    internal enum State
    {
        Ready,
        Writing,
        Leased,
    }

    /// <summary>Files indexed (leased and being written included).</summary>
    public int Count => _files.Count;

    /// <summary>Their size on disk.</summary>
    public long Bytes { get; private set; }

    /// <summary>Hits in those files.</summary>
    public long HitsWaiting { get; private set; }

    /// <summary>Adds <paramref name="entry"/> with its bytes and hits.</summary>
    public void Add(Entry entry)
    {
        _files.Add(entry.Sequence, entry);
        Bytes += entry.Bytes;
        HitsWaiting += entry.Hits;
    }

    public bool TryGet(long sequence, [NotNullWhen(true)] out Entry? entry) =>
        _files.TryGetValue(sequence, out entry);

    /// <summary>Removes an entry, and its bytes and hits, when it is still indexed.</summary>
    public void Forget(Entry entry)
    {
        if (_files.Remove(entry.Sequence))
        {
            Bytes -= entry.Bytes;
            HitsWaiting -= entry.Hits;
        }
    }

    /// <summary>Sets the size and hits of an indexed file (rewritten with fewer hits) and makes it ready again.</summary>
    public void Resize(long sequence, long bytes, int hits)
    {
        if (_files.TryGetValue(sequence, out var entry))
        {
            Bytes += bytes - entry.Bytes;
            HitsWaiting += hits - entry.Hits;
            entry.Bytes = bytes;
            entry.Hits = hits;
            entry.State = State.Ready;
        }
    }

    /// <summary>Makes an indexed file ready to be listed again (after a lease or a failed rewrite).</summary>
    public void MakeReady(long sequence)
    {
        if (_files.TryGetValue(sequence, out var entry))
        {
            entry.State = State.Ready;
        }
    }

    /// <summary>The oldest file not being read or written; null when there is none.</summary>
    public Entry? OldestReady()
    {
        foreach (var entry in _files.Values)
        {
            if (entry.State == State.Ready)
            {
                return entry;
            }
        }

        return null;
    }

    /// <summary>The files not being read or written, oldest first.</summary>
    public List<SpoolFile> ListReady()
    {
        var list = new List<SpoolFile>(_files.Count);
        foreach (var entry in _files.Values)
        {
            if (entry.State == State.Ready)
            {
                list.Add(entry.ToFile());
            }
        }

        return list;
    }

    internal sealed class Entry(long sequence, string path, long bytes, int hits, State state)
    {
        public long Sequence { get; } = sequence;

        public string Path { get; } = path;

        public long Bytes { get; set; } = bytes;

        public int Hits { get; set; } = hits;

        public State State { get; set; } = state;

        public SpoolFile ToFile() => new(Sequence, Path, Bytes, Hits);
    }
}
