using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>The spool's log messages (event ids 80-89: 80-83 the store, 84-87 the sender's use of it).</summary>
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

    [LoggerMessage(84, LogLevel.Warning, "Matomo is failing and {Waiting} hits wait in the queue (capacity {Capacity}): moving waiting hits to the spool in '{Directory}' until Matomo answers again; they are replayed then (logged once per outage).", EventName = "SpoolingWhileFailing")]
    public static partial void SpoolingWhileFailing(ILogger logger, int waiting, int capacity, string directory);

    [LoggerMessage(85, LogLevel.Information, "Replaying the Matomo spool: {Hits} hits in {Files} files, oldest first, taking turns with new hits.", EventName = "SpoolReplaying")]
    public static partial void SpoolReplaying(ILogger logger, long hits, int files);

    [LoggerMessage(86, LogLevel.Information, "The Matomo spool is replayed: {Replayed} hits read back and accounted for since start.", EventName = "SpoolReplayed")]
    public static partial void SpoolReplayed(ILogger logger, long replayed);

    [LoggerMessage(87, LogLevel.Information, "Stopped with {Hits} Matomo hits in {Files} spool files in '{Directory}' ({AtStop} written at stop); the next start replays them.", EventName = "SpoolKeptAtStop")]
    public static partial void SpoolKeptAtStop(ILogger logger, long hits, int files, string directory, long atStop);
}
