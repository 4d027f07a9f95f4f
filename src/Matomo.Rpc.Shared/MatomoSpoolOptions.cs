namespace Matomo.Rpc;

/// <summary>
/// The spool: a directory where hits that would otherwise be lost (a long Matomo outage, a stop while Matomo is down)
/// are kept on disk and sent later, also by the next start. Off unless <see cref="Directory"/> is set.
/// </summary>
public class MatomoSpoolOptions
{
    /// <summary>
    /// The spool directory, e.g. <c>matomo-spool</c>; a relative path is relative to the app's content root. It is
    /// created if missing and locked for the life of the process: give each process its own directory. Unset (the
    /// default) keeps hits in memory only.
    /// </summary>
    public string? Directory { get; set; }

    /// <summary>
    /// Most bytes the spool files may take on disk; beyond that the oldest files are dropped and counted. Default
    /// 104857600 (100 MB).
    /// </summary>
    public long MaxBytes { get; set; } = 100L * 1024 * 1024;
}
