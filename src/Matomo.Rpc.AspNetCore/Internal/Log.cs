using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>All log messages of the HTTP adapter (event ids 300-399).</summary>
internal static partial class Log
{
    [LoggerMessage(300, LogLevel.Error, "Tracking the HTTP request {Method} {Action} in Matomo failed; the request is not affected.", EventName = "HttpTrackingFailed")]
    public static partial void TrackingFailed(ILogger logger, string method, string action, Exception exception);

    [LoggerMessage(310, LogLevel.Debug, "The gRPC call {Action} ended with status {Status} before MatomoInterceptor saw it (grpc-dotnet answered it itself); the HTTP adapter tracks it.", EventName = "GrpcCallNotSeenByInterceptor")]
    public static partial void GrpcCallNotSeenByInterceptor(ILogger logger, string action, string status);

    [LoggerMessage(320, LogLevel.Warning, "The request {Method} {Action} was also seen by MatomoInterceptor, but its endpoint carries no gRPC metadata the HTTP adapter knows (a grpc-dotnet that renamed GrpcMethodMetadata?): such requests are left to the interceptor, so that no call is tracked twice. Logged once.", EventName = "GrpcCallOnUnrecognisedEndpoint")]
    public static partial void GrpcCallOnUnrecognisedEndpoint(ILogger logger, string method, string action);
}
