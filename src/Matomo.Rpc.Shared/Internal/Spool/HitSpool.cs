using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// The spool as the sender and delivery use it (a singleton; the health check and the statistics read it too): opens the
/// <see cref="SpoolStore"/> when the sender starts and closes it when it stops, keeps batches of pending hits as files
/// (a replayed file goes out in requests of the same batch size as live hits), hands files back as batches to replay,
/// and settles them as delivery accounts for their hits. Without <c>Matomo:Spool:Directory</c> it does nothing.
/// <para>
/// Counting: a hit moved from the queue to the spool frees its place in the queue and waits in the spool
/// (<see cref="MatomoStatistics.SpoolWaiting"/>); once replayed it is counted sent, rejected or dropped like any other.
/// Hits found in the spool at start were never queued by this process: they are <see cref="MatomoStatistics.SpoolInherited"/>.
/// So at any time: hits of tracked calls + SpoolInherited = Sent + Rejected + Dropped + QueueLength + SpoolWaiting.
/// </para>
/// </summary>
internal sealed class HitSpool : IDisposable
{
    private readonly SpoolSettings? _settings;
    private readonly int _batchSize;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IMeterFactory? _meterFactory;
    private readonly MatomoMetrics _metrics;
    private SpoolStore? _store;
    private long _inherited;

    // Hits of leased files already accounted for: the store counts a file's hits as waiting until the file goes.
    private long _accountedInLease;

    // Hits being written: out of the queue, not yet in the store's count.
    private long _inTransit;

    public HitSpool(SpoolSettings? settings, int batchSize, ILogger logger, TimeProvider time, IMeterFactory? meterFactory, MatomoMetrics metrics)
    {
        _settings = settings;
        _batchSize = Math.Max(1, batchSize);
        _logger = logger;
        _time = time;
        _meterFactory = meterFactory;
        _metrics = metrics;
        metrics.Spool = this;
    }

    /// <summary>True while the store is open and its directory usable.</summary>
    public bool Active => Volatile.Read(ref _store) is { Enabled: true };

    /// <summary>The spool directory, or null when the spool is off.</summary>
    public string? Directory => _settings?.Directory;

    /// <summary>The store's figures (zeros when the spool is off or not open yet).</summary>
    public SpoolStatistics Statistics => Volatile.Read(ref _store)?.Statistics ?? default;

    /// <summary>Hits waiting in the spool (or being written to it) and not yet accounted for.</summary>
    public long Waiting => Math.Max(0, Statistics.HitsWaiting - Interlocked.Read(ref _accountedInLease) + Interlocked.Read(ref _inTransit));

    /// <summary>Hits that were in the spool when it was opened: left by an earlier process.</summary>
    public long Inherited => Interlocked.Read(ref _inherited);

    /// <summary>
    /// Opens the store when a directory is set. Throws <see cref="InvalidOperationException"/> (naming
    /// <c>Matomo:Spool:Directory</c>) when another process holds the directory: the sender's start then fails.
    /// </summary>
    public void Open()
    {
        if (_settings is null || _store is not null)
        {
            return;
        }

        var store = SpoolStore.Open(_settings, _logger, _time, _meterFactory, _metrics.Dropped);
        Interlocked.Exchange(ref _inherited, store.Statistics.HitsWaiting);
        Volatile.Write(ref _store, store);
    }

    /// <summary>
    /// Keeps <paramref name="hits"/> (oldest first) on disk, in files of up to <see cref="SpoolFormat.MaxHitsPerFile"/>
    /// hits (each file is flushed to disk: larger files make that cheaper per hit). Returns the hits that could
    /// not be kept because the spool is off or unusable (the caller still owns them); hits that did not fit in
    /// <c>Matomo:Spool:MaxBytes</c> were counted as dropped by the store and are in <paramref name="full"/>.
    /// </summary>
    public List<PendingHit> Keep(List<PendingHit> hits, out int full)
    {
        full = 0;
        var store = Volatile.Read(ref _store);
        if (store is null || !store.Enabled)
        {
            return hits;
        }

        Interlocked.Add(ref _inTransit, hits.Count);
        var chunk = new List<SpooledHit>(Math.Min(SpoolFormat.MaxHitsPerFile, hits.Count));
        for (var start = 0; start < hits.Count; start += SpoolFormat.MaxHitsPerFile)
        {
            var count = Math.Min(SpoolFormat.MaxHitsPerFile, hits.Count - start);
            chunk.Clear();
            for (var i = start; i < start + count; i++)
            {
                chunk.Add(hits[i].ToSpooled());
            }

            var result = store.Write(chunk);
            Interlocked.Add(ref _inTransit, -count);
            switch (result)
            {
                case SpoolWriteResult.Full:
                    full += count;
                    break;
                case SpoolWriteResult.Disabled:
                    Interlocked.Add(ref _inTransit, -(hits.Count - start - count));
                    return hits.GetRange(start, hits.Count - start);
            }
        }

        return [];
    }

    /// <summary>
    /// The oldest file as a batch to deliver, in requests of at most <c>Matomo:Sending:BatchSize</c> hits like live
    /// batches; null when none is waiting (or the spool is off).
    /// </summary>
    public Batch? TakeOldest()
    {
        if (Volatile.Read(ref _store) is not { Enabled: true } store || store.TryReadOldest() is not { } file)
        {
            return null;
        }

        List<PendingHit> hits = new(file.Hits.Count), isolated = [];
        foreach (var spooled in file.Hits)
        {
            (spooled.Isolated ? isolated : hits).Add(PendingHit.FromSpooled(spooled));
        }

        return new Batch(hits, isolated, file, _batchSize);
    }

    /// <summary>Delivery accounted for <paramref name="count"/> more hits of a replayed file; the file goes when all are.</summary>
    public void Accounted(SpoolBatch file, int count)
    {
        if (count <= 0 || _store is not { } store || file.IsFinished)
        {
            return;
        }

        // Never less than the truth on the way: a file's last hits take its earlier ones out of the correction first,
        // then the store deletes the file (and takes all its hits out of its count).
        var before = file.Accounted;
        if (before + count < file.Hits.Count)
        {
            Interlocked.Add(ref _accountedInLease, count);
            store.Account(file, count);
        }
        else
        {
            Interlocked.Add(ref _accountedInLease, -before);
            store.Account(file, count);
        }
    }

    /// <summary>Gives a replayed file back with just <paramref name="rest"/>, the hits not accounted for: they stay on disk.</summary>
    public void GiveBack(SpoolBatch file, List<PendingHit> rest)
    {
        if (_store is not { } store || file.IsFinished)
        {
            return;
        }

        var accounted = file.Accounted;
        store.Release(file, rest.Count == file.Hits.Count ? null : rest.ConvertAll(static h => h.ToSpooled()));
        Interlocked.Add(ref _accountedInLease, -accounted);
    }

    /// <summary>Releases the directory's lock; the files stay for the next start.</summary>
    public void Dispose() => Volatile.Read(ref _store)?.Dispose();
}
