namespace Matomo.Rpc;

/// <summary>The kind of call a hit records. Used by the allowed and ignored call kinds options.</summary>
public enum MatomoCallKind
{
    /// <summary>A gRPC unary call.</summary>
    Unary = 0,

    /// <summary>A gRPC client streaming call.</summary>
    ClientStreaming = 1,

    /// <summary>A gRPC server streaming call.</summary>
    ServerStreaming = 2,

    /// <summary>A gRPC bidirectional (duplex) streaming call.</summary>
    DuplexStreaming = 3,

    /// <summary>A SignalR hub method invocation (including invocations that upload client-to-server streams).</summary>
    HubInvocation = 4,

    /// <summary>A SignalR server-to-client stream, tracked when the stream ends.</summary>
    HubStream = 5,

    /// <summary>A SignalR connection opening, tracked as a Matomo event.</summary>
    HubConnect = 6,

    /// <summary>A SignalR connection closing, tracked as a Matomo event.</summary>
    HubDisconnect = 7,

    /// <summary>A plain HTTP request (an HTTP endpoint adapter).</summary>
    Http = 8,
}
