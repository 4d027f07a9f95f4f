using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// The store's running counts (hits kept, replayed and dropped, files moved aside) and its spool-full warning, logged
/// at most once a minute with the files and hits dropped since the last one. Counting happens under the store's gate
/// (dropped hits may be counted outside it); the warning takes the gate itself.
/// </summary>
internal sealed class SpoolCounters(Lock gate, ILogger logger, TimeProvider time, long maxBytes, Action<int, string>? countDropped)
{
    private static readonly TimeSpan FullWarningInterval = TimeSpan.FromMinutes(1);

    private long _spooled;
    private long _replayed;
    private long _dropped;
    private int _badFiles;
    private long _fullFilesToLog;
    private long _fullHitsToLog;
    private long? _lastFullWarning;

    /// <summary>The figures with the index's. Under the gate.</summary>
    public SpoolStatistics Snapshot(bool enabled, SpoolIndex index) =>
        new(enabled, index.Count, index.Bytes, index.HitsWaiting, _spooled, _replayed, _dropped, _badFiles);

    /// <summary>Under the gate.</summary>
    public void AddSpooled(int count) => _spooled += count;

    /// <summary>Under the gate.</summary>
    public void AddReplayed(int count) => _replayed += count;

    /// <summary>Under the gate.</summary>
    public void AddBadFile() => _badFiles++;

    /// <summary>Counts the hits of <paramref name="files"/> files (0 for a batch that did not fit) dropped for want of room, for the next warning. Under the gate.</summary>
    public void DropFull(int files, int hits)
    {
        CountDropped(hits, SpoolDropReasons.SpoolFull);
        _fullFilesToLog += files;
        _fullHitsToLog += hits;
    }

    /// <summary>Under the gate or not: the callback only adds to counters.</summary>
    public void CountDropped(int count, string reason)
    {
        if (count <= 0)
        {
            return;
        }

        Interlocked.Add(ref _dropped, count);
        countDropped?.Invoke(count, reason);
    }

    /// <summary>Logs the spool-full warning when something was dropped and the last one is a minute old (or <paramref name="force"/>).</summary>
    public void WarnIfFull(bool force = false)
    {
        long files;
        long hits;
        lock (gate)
        {
            if (_fullFilesToLog == 0 && _fullHitsToLog == 0)
            {
                return;
            }

            var now = time.GetTimestamp();
            if (!force && _lastFullWarning is { } last && time.GetElapsedTime(last, now) < FullWarningInterval)
            {
                return;
            }

            _lastFullWarning = now;
            files = _fullFilesToLog;
            hits = _fullHitsToLog;
            _fullFilesToLog = 0;
            _fullHitsToLog = 0;
        }

        Log.SpoolFull(logger, maxBytes, files, hits);
    }
}
