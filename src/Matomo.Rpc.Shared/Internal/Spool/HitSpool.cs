using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// The spool as the sender and delivery use it (a singleton; the health check and the statistics read it too): opens the
/// <see cref="SpoolStore"/> when the sender starts and closes it when it stops, keeps batches of pending hits as files
/// (one file holds at most one batch, so a replay goes out at the same batch size), hands files back as batches to
/// replay, and settles them as delivery accounts for their hits. Without <c>Matomo:Spool:Directory</c> it does nothing.
/// <para>
/// Counting: a hit moved from the queue to the spool frees its place in the queue and waits in the spool
/// (<see cref="MatomoStatistics.SpoolWaiting"/>); once replayed it is counted sent, rejected or dropped like any other.
/// Hits found in the spool at start were never queued by this process: they are <see cref="MatomoStatistics.SpoolInherited"/>.
/// So at any time: Queued + SpoolInherited = Sent + Rejected + Dropped + QueueLength + SpoolWaiting.
/// </para>
/// </summary>
internal sealed class HitSpool : IDisposable
{
    private readonly SpoolSettings? _settings;
    private readonly int _hitsPerFile;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IMeterFactory? _meterFactory;
    private readonly MatomoMetrics _metrics;
    private SpoolStore? _store;
    private long _inherited;

    // Hits of leased files already accounted for: the store counts a file's hits as waiting until the file goes.
    private long _accountedInLease;

    public HitSpool(SpoolSettings? settings, int batchSize, ILogger logger, TimeProvider time, IMeterFactory? meterFactory, MatomoMetrics metrics)
    {
        _settings = settings;
        _hitsPerFile = Math.Clamp(batchSize, 1, SpoolFormat.MaxHitsPerFile);
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

    /// <summary>Hits waiting in the spool and not yet accounted for.</summary>
    public long Waiting => Math.Max(0, Statistics.HitsWaiting - Interlocked.Read(ref _accountedInLease));

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
    /// Keeps <paramref name="hits"/> (oldest first) on disk, in files of at most one batch. Returns the hits that could
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

        var chunk = new List<SpooledHit>(Math.Min(_hitsPerFile, hits.Count));
        for (var start = 0; start < hits.Count; start += _hitsPerFile)
        {
            var count = Math.Min(_hitsPerFile, hits.Count - start);
            chunk.Clear();
            for (var i = start; i < start + count; i++)
            {
                chunk.Add(hits[i].ToSpooled());
            }

            switch (store.Write(chunk))
            {
                case SpoolWriteResult.Full:
                    full += count;
                    break;
                case SpoolWriteResult.Disabled:
                    return hits.GetRange(start, hits.Count - start);
            }
        }

        return [];
    }

    /// <summary>The oldest file as a batch to deliver, or null when none is waiting (or the spool is off).</summary>
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

        return new Batch(hits, isolated, file);
    }

    /// <summary>Delivery accounted for <paramref name="count"/> more hits of a replayed file; the file goes when all are.</summary>
    public void Accounted(SpoolBatch file, int count)
    {
        if (count <= 0 || _store is not { } store || file.IsFinished)
        {
            return;
        }

        Interlocked.Add(ref _accountedInLease, count);
        if (store.Account(file, count))
        {
            Interlocked.Add(ref _accountedInLease, -file.Hits.Count);
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
