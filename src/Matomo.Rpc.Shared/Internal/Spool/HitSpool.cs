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
    /// Keeps <paramref name="hits"/> (oldest first) on disk (see <see cref="Keep(SpoolRecords, out int)"/>). Returns the
    /// hits that could not be kept because the spool is off or unusable (the caller still owns them); hits that did not
    /// fit in <c>Matomo:Spool:MaxBytes</c> were counted as dropped by the store and are in <paramref name="full"/>.
    /// </summary>
    public List<PendingHit> Keep(List<PendingHit> hits, out int full)
    {
        full = 0;
        if (!Active || hits.Count == 0)
        {
            return hits;
        }

        using var records = new SpoolRecords(hits.Count * 512);
        foreach (var hit in hits)
        {
            records.Add(hit);
        }

        var kept = Keep(records, out full);
        return kept == hits.Count ? [] : hits.GetRange(kept, hits.Count - kept);
    }

    /// <summary>
    /// Keeps <paramref name="records"/> (oldest first) on disk, in files of up to <see cref="SpoolFormat.MaxHitsPerFile"/>
    /// hits, as few and as even as that allows (each file is flushed to disk: larger files make that cheaper per hit).
    /// Returns how many records, from the first, the spool took: the rest could not be kept because the spool is off or
    /// turned unusable (the caller still owns them). Records that did not fit in <c>Matomo:Spool:MaxBytes</c> were taken,
    /// counted as dropped by the store, and are in <paramref name="full"/>.
    /// </summary>
    public int Keep(SpoolRecords records, out int full)
    {
        ArgumentNullException.ThrowIfNull(records);
        full = 0;
        var store = Volatile.Read(ref _store);
        var total = records.Count;
        if (store is null || !store.Enabled || total == 0)
        {
            return 0;
        }

        Interlocked.Add(ref _inTransit, total);
        var files = (total + SpoolFormat.MaxHitsPerFile - 1) / SpoolFormat.MaxHitsPerFile;
        var perFile = (total + files - 1) / files;
        for (var start = 0; start < total; start += perFile)
        {
            var count = Math.Min(perFile, total - start);
            var result = store.Write(records, start, count);
            Interlocked.Add(ref _inTransit, -count);
            switch (result)
            {
                case SpoolWriteResult.Full:
                    full += count;
                    break;
                case SpoolWriteResult.Disabled:
                    Interlocked.Add(ref _inTransit, -(total - start - count));
                    return start;
            }
        }

        return total;
    }

    /// <summary>
    /// The oldest file as a batch to deliver, in requests of at most <c>Matomo:Sending:BatchSize</c> hits like live
    /// batches; null when none is waiting (or the spool is off). The hits' queries stay bytes in the batch's buffer.
    /// </summary>
    public Batch? TakeOldest()
    {
        if (Volatile.Read(ref _store) is not { Enabled: true } store || store.TryReadOldest() is not { } file)
        {
            return null;
        }

        var records = file.TakeRecords();
        List<PendingHit> hits = new(records.Count), isolated = [];
        records.ToPendingHits(0, hits, isolated);
        return new Batch(hits, isolated, file, _batchSize, records.TakeBuffer());
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
        if (before + count < file.Count)
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
        if (rest.Count == file.Count)
        {
            store.Release(file, (SpoolRecords?)null);
        }
        else
        {
            using var records = new SpoolRecords(rest.Count * 512);
            foreach (var hit in rest)
            {
                records.Add(hit);
            }

            store.Release(file, records);
        }

        Interlocked.Add(ref _accountedInLease, -accounted);
    }

    /// <summary>Releases the directory's lock; the files stay for the next start.</summary>
    public void Dispose() => Volatile.Read(ref _store)?.Dispose();
}
