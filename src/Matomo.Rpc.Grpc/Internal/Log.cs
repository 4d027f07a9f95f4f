using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc.Internal;

/// <summary>All log messages of the gRPC adapter (event ids 100-199).</summary>
internal static partial class Log
{
    [LoggerMessage(100, LogLevel.Error, "Tracking the gRPC call {Method} in Matomo failed; the call is not affected.", EventName = "GrpcTrackingFailed")]
    public static partial void TrackingFailed(ILogger logger, string method, Exception exception);
}
