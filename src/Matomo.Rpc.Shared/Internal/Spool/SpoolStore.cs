using System.Buffers;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using static Matomo.Rpc.Internal.Spool.SpoolDisk;
using static Matomo.Rpc.Internal.Spool.SpoolIndex;

namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// The durable spool: batches of encoded hits kept as files in one directory, oldest first, until delivery has
/// accounted for every hit of a file.
/// <list type="bullet">
/// <item>A batch is written to <c>{sequence}.tmp</c>, flushed to disk (fsync) and renamed to <c>{sequence}.spool</c>:
/// a reader, this process after a crash included, never sees half a file. Leftover <c>*.tmp</c> files are removed at
/// open.</item>
/// <item>Files are listed and read oldest first (by sequence, which goes on across restarts). A file that fails its
/// checks (see <see cref="SpoolFormat"/>) is moved aside as <c>*.spool.bad</c>, counted and logged; nothing throws.</item>
/// <item>Over <see cref="SpoolSettings.MaxBytes"/>, the oldest files not being read are deleted and their hits counted
/// as dropped (<c>spool_full</c>), with a Warning at most once a minute.</item>
/// <item>A directory that cannot be used (no rights, read-only, disk full) is logged once as an Error naming
/// <c>Matomo:Spool:Directory</c>; the store is then disabled for the life of the process: writes answer
/// <see cref="SpoolWriteResult.Disabled"/> and nothing is listed, so the caller behaves as without a spool. Files
/// already on disk stay for the next start.</item>
/// <item>The directory is locked for the store's life by an exclusive lock on its <c>.lock</c> file (an OS file lock:
/// flock on Linux and macOS, a share lock on Windows, released by the OS when the process dies). A second store on the
/// same directory, in this process or another, fails to open with an <see cref="InvalidOperationException"/> naming
/// <c>Matomo:Spool:Directory</c>: two processes replaying one spool would send its hits twice, so this is a start
/// failure and not a silent fallback.</item>
/// </list>
/// Thread-safe: writes, reads and accounting may come from different threads. The store coordinates the files on disk
/// (<see cref="SpoolDisk"/>), their index (<see cref="SpoolIndex"/>) and the counts (<see cref="SpoolCounters"/>).
/// </summary>
internal sealed class SpoolStore : IDisposable
{
    public const string LockFileName = SpoolDisk.LockFileName;

    private readonly Lock _gate = new();
    private readonly SpoolIndex _index = new();
    private readonly SpoolCounters _counters;
    private readonly SpoolSettings _settings;
    private readonly ILogger _logger;
    private readonly SpoolMetrics? _metrics;
    private FileStream? _lock;
    private volatile bool _enabled;
    private long _next = 1;
    private int _unusableLogged;
    private int _disposed;

    private SpoolStore(SpoolSettings settings, ILogger logger, TimeProvider time, IMeterFactory? meterFactory, Action<int, string>? countDropped)
    {
        _settings = settings;
        _logger = logger;
        _counters = new SpoolCounters(_gate, logger, time, settings.MaxBytes, countDropped);
        _metrics = meterFactory is null ? null : new SpoolMetrics(meterFactory, () => Statistics);
    }

    /// <summary>Tests only: runs between a new file's fsync and its rename (a process killed there leaves a temp file).</summary>
    internal Action<string>? AfterTemporaryWritten { get; set; }

    /// <summary>The absolute path of the spool directory.</summary>
    public string Directory => _settings.Directory;

    /// <summary>False when the directory turned out unusable: then the store keeps nothing and lists nothing.</summary>
    public bool Enabled => _enabled;

    public SpoolStatistics Statistics
    {
        get
        {
            lock (_gate)
            {
                return _counters.Snapshot(_enabled, _index);
            }
        }
    }

    /// <summary>
    /// Opens the spool in <see cref="SpoolSettings.Directory"/> (created if missing): takes the directory's lock, removes
    /// unfinished writes, indexes the files waiting. An unusable directory gives a disabled store (logged once).
    /// </summary>
    /// <param name="settings">The directory and size limit.</param>
    /// <param name="logger">Where the spool logs (event ids 80-89).</param>
    /// <param name="time">Time for the rate of the spool-full warning.</param>
    /// <param name="meterFactory">Registers the spool's instruments on the <c>Matomo.Rpc</c> meter when given.</param>
    /// <param name="countDropped">Told of every hit the spool drops, with its reason (<see cref="SpoolDropReasons"/>).</param>
    /// <exception cref="InvalidOperationException">Another store, in this process or another one, holds the directory.</exception>
    public static SpoolStore Open(SpoolSettings settings, ILogger logger, TimeProvider? time = null, IMeterFactory? meterFactory = null, Action<int, string>? countDropped = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(logger);
        var store = new SpoolStore(settings, logger, time ?? TimeProvider.System, meterFactory, countDropped);
        store.Start();
        return store;
    }

    /// <summary>
    /// Keeps <paramref name="hits"/> (1 to <see cref="SpoolFormat.MaxHitsPerFile"/>, oldest first) as one file, durably,
    /// dropping the oldest files first when the spool would grow past its limit. Never throws for I/O trouble.
    /// </summary>
    public SpoolWriteResult Write(IReadOnlyList<SpooledHit> hits)
    {
        ArgumentNullException.ThrowIfNull(hits);
        ArgumentOutOfRangeException.ThrowIfZero(hits.Count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(hits.Count, SpoolFormat.MaxHitsPerFile);
        using var records = new SpoolRecords();
        for (var i = 0; i < hits.Count; i++)
        {
            records.Add(hits[i]);
        }

        return Write(records, 0, hits.Count);
    }

    /// <summary>
    /// Keeps records <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> - 1 of
    /// <paramref name="records"/> (1 to <see cref="SpoolFormat.MaxHitsPerFile"/>, oldest first) as one file, durably,
    /// dropping the oldest files first when the spool would grow past its limit. Never throws for I/O trouble.
    /// </summary>
    public SpoolWriteResult Write(SpoolRecords records, int first, int count)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentOutOfRangeException.ThrowIfZero(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, SpoolFormat.MaxHitsPerFile);
        if (!_enabled)
        {
            return SpoolWriteResult.Disabled;
        }

        var file = SpoolFormat.Encode(records, first, count, _settings.Codec, out var length);
        try
        {
            return Write(file.AsSpan(0, length), count);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(file);
        }
    }

    private SpoolWriteResult Write(ReadOnlySpan<byte> bytes, int hitCount)
    {
        Entry? entry = null;
        var full = false;
        lock (_gate)
        {
            if (!_enabled)
            {
                return SpoolWriteResult.Disabled;
            }

            if (MakeRoom(bytes.Length))
            {
                var sequence = _next++;
                entry = new Entry(sequence, PathOf(Directory, sequence), bytes.Length, hitCount, State.Writing);
                _index.Add(entry);
            }
            else if (_enabled)
            {
                full = true;
                _counters.DropFull(0, hitCount);
            }
        }

        _counters.WarnIfFull();
        if (entry is null)
        {
            return full ? SpoolWriteResult.Full : SpoolWriteResult.Disabled;
        }

        try
        {
            WriteAtomically(TempPathOf(Directory, entry.Sequence), entry.Path, bytes, replace: false, AfterTemporaryWritten);
        }
        catch (Exception ex) when (IsIoProblem(ex))
        {
            lock (_gate)
            {
                _index.Forget(entry);
            }

            Disable("writing a batch failed: " + ex.Message, ex);
            return SpoolWriteResult.Disabled;
        }

        lock (_gate)
        {
            entry.State = State.Ready;
            _counters.AddSpooled(hitCount);
        }

        _metrics?.Spooled(hitCount);
        return SpoolWriteResult.Written;
    }

    /// <summary>The files waiting and not being read, oldest first. Empty when disabled.</summary>
    public IReadOnlyList<SpoolFile> List()
    {
        lock (_gate)
        {
            if (!_enabled)
            {
                return [];
            }

            return _index.ListReady();
        }
    }

    /// <summary>
    /// Reads <paramref name="file"/> and leases its hits to the caller; null when it is gone, leased already, corrupt
    /// (then moved aside and counted) or the store is disabled.
    /// </summary>
    public SpoolBatch? TryRead(SpoolFile file)
    {
        Entry? entry;
        lock (_gate)
        {
            if (!_enabled || !_index.TryGet(file.Sequence, out entry) || entry.State != State.Ready)
            {
                return null;
            }

            entry.State = State.Leased;
        }

        byte[] data;
        int length;
        try
        {
            (data, length) = ReadPooled(entry.Path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException && System.IO.Directory.Exists(Directory))
        {
            // Removed by hand: nothing left to send.
            lock (_gate)
            {
                _index.Forget(entry);
            }

            return null;
        }
        catch (Exception ex) when (IsIoProblem(ex))
        {
            lock (_gate)
            {
                entry.State = State.Ready;
            }

            Disable("reading a batch failed: " + ex.Message, ex);
            return null;
        }

        SpoolRecords? records;
        string? problem;
        try
        {
            SpoolFormat.TryDecodeRecords(data.AsSpan(0, length), out records, out problem);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(data);
        }

        if (records is null)
        {
            MoveAside(entry, problem!, entry.Hits);
            return null;
        }

        return new SpoolBatch(entry.ToFile(), records);
    }

    /// <summary>Reads the oldest file that is readable (moving corrupt ones aside on the way); null when none is left.</summary>
    public SpoolBatch? TryReadOldest()
    {
        foreach (var file in List())
        {
            if (TryRead(file) is { } batch)
            {
                return batch;
            }
        }

        return null;
    }

    /// <summary>
    /// Tells the store that <paramref name="count"/> more hits of <paramref name="batch"/> are accounted for (Matomo
    /// answered for them, or delivery dropped and counted them). When every hit is, the file is deleted and true returned.
    /// </summary>
    public bool Account(SpoolBatch batch, int count)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        bool complete;
        lock (_gate)
        {
            if (batch.IsFinished)
            {
                throw new InvalidOperationException("The spool batch was already deleted or released.");
            }

            ArgumentOutOfRangeException.ThrowIfGreaterThan(count, batch.Count - batch.Accounted);
            complete = batch.AddAccounted(count) == batch.Count && batch.TryFinish();
            _counters.AddReplayed(count);
        }

        _metrics?.Replayed(count);
        if (complete)
        {
            Delete(batch.File.Sequence);
        }

        return complete;
    }

    /// <summary>
    /// Gives back a batch that is not wholly accounted for (e.g. at shutdown): with <paramref name="remaining"/> null the
    /// file stays as it is and is listed again; otherwise it is rewritten (durably, in place) with just those hits, or
    /// deleted when there are none. Calling it on a finished batch does nothing.
    /// </summary>
    public void Release(SpoolBatch batch, IReadOnlyList<SpooledHit>? remaining = null)
    {
        if (remaining is null)
        {
            Release(batch, (SpoolRecords?)null);
            return;
        }

        using var records = new SpoolRecords();
        foreach (var hit in remaining)
        {
            records.Add(hit);
        }

        Release(batch, records);
    }

    /// <summary>As <see cref="Release(SpoolBatch, IReadOnlyList{SpooledHit})"/>, with the hits left as records.</summary>
    public void Release(SpoolBatch batch, SpoolRecords? remaining)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (!batch.TryFinish())
        {
            return;
        }

        var sequence = batch.File.Sequence;
        if (remaining is null || remaining.Count == batch.Count)
        {
            lock (_gate)
            {
                _index.MakeReady(sequence);
            }

            return;
        }

        if (remaining.Count == 0)
        {
            Delete(sequence);
            return;
        }

        var file = SpoolFormat.Encode(remaining, 0, remaining.Count, _settings.Codec, out var length);
        var bytes = file.AsSpan(0, length);
        try
        {
            WriteAtomically(TempPathOf(Directory, sequence), batch.File.Path, bytes, replace: true);
        }
        catch (Exception ex) when (IsIoProblem(ex))
        {
            ArrayPool<byte>.Shared.Return(file);
            lock (_gate)
            {
                _index.MakeReady(sequence);
            }

            Disable("rewriting a batch failed: " + ex.Message, ex);
            return;
        }

        ArrayPool<byte>.Shared.Return(file);
        lock (_gate)
        {
            _index.Resize(sequence, length, remaining.Count);
        }
    }

    /// <summary>Releases the directory's lock. Files stay for the next start.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _counters.WarnIfFull(force: true);
        _enabled = false;
        _lock?.Dispose();
    }

    private void Start()
    {
        if (!TryPrepare(Directory, out _lock, out var problem, out var exception))
        {
            Disable(problem, exception);
            return;
        }

        var unfinished = 0;
        try
        {
            foreach (var path in System.IO.Directory.EnumerateFiles(Directory))
            {
                var name = Path.GetFileName(path);
                if (!TryParseSequence(name, out var sequence, out var extension))
                {
                    continue;
                }

                _next = Math.Max(_next, sequence + 1);
                if (extension == TempExtension)
                {
                    // A write that never got to its rename: the process that wrote it did not count it as kept.
                    File.Delete(path);
                    unfinished++;
                }
                else if (extension == FileExtension)
                {
                    Index(sequence, path);
                }
            }
        }
        catch (Exception ex) when (IsIoProblem(ex))
        {
            Disable("its files cannot be listed or removed: " + ex.Message, ex);
            return;
        }

        _enabled = true;
        Log.SpoolOpened(_logger, Directory, _index.Count, _index.HitsWaiting, _index.Bytes, unfinished);
    }

    private void Index(long sequence, string path)
    {
        var header = ReadHeader(path, out var length);
        var entry = new Entry(sequence, path, length, 0, State.Ready);
        if (!SpoolFormat.TryReadHeader(header, length, out var hits, out var problem))
        {
            _index.Add(entry);
            MoveAside(entry, problem!, 0);
            return;
        }

        entry.Hits = hits;
        _index.Add(entry);
    }

    /// <summary>Deletes the oldest files not in use until <paramref name="size"/> more bytes fit. Under the gate.</summary>
    private bool MakeRoom(long size)
    {
        if (size > _settings.MaxBytes)
        {
            return false;
        }

        while (_index.Bytes + size > _settings.MaxBytes)
        {
            if (_index.OldestReady() is not { } oldest)
            {
                return false;
            }

            try
            {
                File.Delete(oldest.Path);
            }
            catch (Exception ex) when (IsIoProblem(ex))
            {
                Disable("dropping its oldest file failed: " + ex.Message, ex);
                return false;
            }

            _index.Forget(oldest);
            _counters.DropFull(1, oldest.Hits);
        }

        return true;
    }

    private void MoveAside(Entry entry, string problem, int hits)
    {
        var bad = entry.Path + BadExtension;
        try
        {
            File.Move(entry.Path, bad, overwrite: true);
        }
        catch (Exception ex) when (IsIoProblem(ex))
        {
            if (!TryDelete(entry.Path))
            {
                lock (_gate)
                {
                    _index.Forget(entry);
                }

                Disable("a corrupt file cannot be moved aside: " + ex.Message, ex);
                return;
            }

            bad = "(deleted)";
        }

        lock (_gate)
        {
            _index.Forget(entry);
            _counters.AddBadFile();
            _counters.CountDropped(hits, SpoolDropReasons.SpoolCorrupt);
        }

        _metrics?.BadFile();
        Log.SpoolFileCorrupt(_logger, entry.Path, problem, bad, hits);
    }

    private void Delete(long sequence)
    {
        Entry? entry;
        lock (_gate)
        {
            if (!_index.TryGet(sequence, out entry))
            {
                return;
            }

            _index.Forget(entry);
        }

        try
        {
            File.Delete(entry.Path);
        }
        catch (Exception ex) when (IsIoProblem(ex))
        {
            // The hits were accounted for; the file would send them again at the next start.
            Disable("deleting a sent batch failed: " + ex.Message, ex);
        }
    }

    private void Disable(string problem, Exception? exception)
    {
        _enabled = false;
        if (Interlocked.Exchange(ref _unusableLogged, 1) == 0)
        {
            Log.SpoolUnusable(_logger, Directory, problem, exception);
        }
    }
}
