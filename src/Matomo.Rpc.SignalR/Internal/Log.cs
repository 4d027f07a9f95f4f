using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>All log messages of the SignalR adapter (event ids 200-299).</summary>
internal static partial class Log
{
    [LoggerMessage(200, LogLevel.Warning, "Tracking the SignalR {Operation} of hub '{Hub}' failed; the hub is not affected and the hit is lost.", EventName = "HubTrackingFailed")]
    public static partial void TrackingFailed(ILogger logger, string operation, string hub, Exception exception);

    [LoggerMessage(201, LogLevel.Error, "MatomoHubFilter runs, but Matomo tracking is not registered, so SignalR hubs are not tracked: call services.AddMatomoTracking(...) at startup (logged once).", EventName = "HubTrackerMissing")]
    public static partial void TrackerMissing(ILogger logger);
}
