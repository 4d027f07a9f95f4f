using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>All log messages of the HTTP adapter (event ids 300-399).</summary>
internal static partial class Log
{
    [LoggerMessage(300, LogLevel.Error, "Tracking the HTTP request {Method} {Action} in Matomo failed; the request is not affected.", EventName = "HttpTrackingFailed")]
    public static partial void TrackingFailed(ILogger logger, string method, string action, Exception exception);
}
