using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>The spool's log messages (event ids 80-89).</summary>
internal static partial class Log
{
    [LoggerMessage(80, LogLevel.Error, "Matomo:Spool:Directory '{Directory}' cannot be used ({Problem}); hits are kept in memory only, as without a spool, until the app restarts. Give the app write access to the directory, free disk space, or set Matomo:Spool:Directory to a writable path.", EventName = "SpoolUnusable")]
    public static partial void SpoolUnusable(ILogger logger, string directory, string problem, Exception? exception);

    [LoggerMessage(81, LogLevel.Warning, "The Matomo spool reached Matomo:Spool:MaxBytes ({MaxBytes} bytes): dropped {Files} files ({Hits} hits) since the last such warning. Raise Matomo:Spool:MaxBytes or check that Matomo is reachable.", EventName = "SpoolFull")]
    public static partial void SpoolFull(ILogger logger, long maxBytes, long files, long hits);

    [LoggerMessage(82, LogLevel.Warning, "The Matomo spool file '{File}' is corrupt ({Problem}); moved aside as '{BadFile}' and its {Hits} hits counted as dropped.", EventName = "SpoolFileCorrupt")]
    public static partial void SpoolFileCorrupt(ILogger logger, string file, string problem, string badFile, int hits);

    [LoggerMessage(83, LogLevel.Information, "Matomo spool in '{Directory}': {Files} files ({Hits} hits, {Bytes} bytes) waiting to be sent; {Unfinished} unfinished writes removed.", EventName = "SpoolOpened")]
    public static partial void SpoolOpened(ILogger logger, string directory, int files, long hits, long bytes, int unfinished);
}
