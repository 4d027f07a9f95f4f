using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc.Internal;

/// <summary>All log messages of the gRPC adapter (event ids 100-199).</summary>
internal static partial class Log
{
    [LoggerMessage(100, LogLevel.Error, "Tracking the gRPC call {Method} in Matomo failed; the call is not affected.", EventName = "GrpcTrackingFailed")]
    public static partial void TrackingFailed(ILogger logger, string method, Exception exception);

    [LoggerMessage(101, LogLevel.Error, "MatomoInterceptor runs, but Matomo tracking is not registered, so gRPC calls are not tracked: call services.AddMatomoTracking(...) at startup (logged once).", EventName = "GrpcTrackerMissing")]
    public static partial void TrackerMissing(ILogger logger);
}
