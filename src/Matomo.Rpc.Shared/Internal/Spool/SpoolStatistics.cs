namespace Matomo.Rpc.Internal.Spool;

/// <summary>The spool's figures since the store was opened (for health data and tests).</summary>
/// <param name="Enabled">False when the spool is off or its directory turned out unusable.</param>
/// <param name="Files">Batch files waiting (leased ones included).</param>
/// <param name="Bytes">Their size on disk.</param>
/// <param name="HitsWaiting">Hits in those files.</param>
/// <param name="HitsSpooled">Hits written to the spool by this process.</param>
/// <param name="HitsReplayed">Hits read back from the spool and accounted for (sent, rejected, or dropped by delivery).</param>
/// <param name="HitsDropped">Hits the spool itself dropped: oldest files over MaxBytes, batches that did not fit, corrupt files.</param>
/// <param name="BadFiles">Files moved aside as <c>*.bad</c>.</param>
internal readonly record struct SpoolStatistics(
    bool Enabled, int Files, long Bytes, long HitsWaiting, long HitsSpooled, long HitsReplayed, long HitsDropped, int BadFiles);
