using System.Diagnostics.Metrics;

namespace Matomo.Rpc.Internal.Spool;

/// <summary>The spool's instruments, on the same <c>Matomo.Rpc</c> meter as the rest of the pipeline.</summary>
internal sealed class SpoolMetrics
{
    private readonly Counter<long> _spooled;
    private readonly Counter<long> _replayed;
    private readonly Counter<long> _badFiles;

    public SpoolMetrics(IMeterFactory meterFactory, Func<SpoolStatistics> statistics)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(statistics);
        var meter = meterFactory.Create(MatomoTracker.MeterName);
        _spooled = meter.CreateCounter<long>("matomo.rpc.spool.hits.spooled", "{hit}", "Hits written to the spool directory.");
        _replayed = meter.CreateCounter<long>("matomo.rpc.spool.hits.replayed", "{hit}", "Hits read back from the spool and accounted for.");
        _badFiles = meter.CreateCounter<long>("matomo.rpc.spool.files.bad", "{file}", "Spool files found corrupt and moved aside.");
        meter.CreateObservableGauge("matomo.rpc.spool.bytes", () => statistics().Bytes, "By", "Bytes of the spool files waiting to be sent.");
        meter.CreateObservableGauge("matomo.rpc.spool.files", () => statistics().Files, "{file}", "Spool files waiting to be sent.");
    }

    public void Spooled(int count) => _spooled.Add(count);

    public void Replayed(int count) => _replayed.Add(count);

    public void BadFile() => _badFiles.Add(1);
}
