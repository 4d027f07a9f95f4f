using System.Collections.Concurrent;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>What is constant per endpoint: whether another adapter (or an exclusion) owns it, and its action names per method.</summary>
internal sealed class EndpointEntry
{
    private readonly ConcurrentDictionary<string, string> _actions = new(StringComparer.Ordinal);

    public EndpointEntry(string route, bool skipped)
    {
        Route = route;
        Skipped = skipped;
    }

    private EndpointEntry(string route, string grpcUnimplementedAction)
    {
        Route = route;
        GrpcUnimplementedAction = grpcUnimplementedAction;
    }

    private EndpointEntry(string route, string grpcMethodAction, MatomoCallKind grpcMethodKind, bool jsonTranscoded)
    {
        Route = route;
        Skipped = true;
        GrpcMethodAction = grpcMethodAction;
        GrpcMethodKind = grpcMethodKind;
        JsonTranscoded = jsonTranscoded;
    }

    /// <summary>The route pattern with a leading '/', e.g. <c>/users/{id}</c>, or <c>(unmatched)</c>.</summary>
    public string Route { get; }

    /// <summary>True for gRPC methods, SignalR hubs, and excluded health checks and static files.</summary>
    public bool Skipped { get; }

    /// <summary>
    /// For grpc-dotnet's fallback of unimplemented methods or services, the action its calls are tracked as
    /// (<c>greet.Greeter/(unimplemented)</c>, <c>(unimplemented)</c>), whatever the request's method; null otherwise.
    /// </summary>
    public string? GrpcUnimplementedAction { get; }

    /// <summary>
    /// For a gRPC method's endpoint (which the interceptor tracks), the action the interceptor tracks its calls as, the
    /// method's full name (<c>/greet.Greeter/SayHello</c>): the adapter tracks under it the calls grpc-dotnet fails before
    /// the interceptor runs. Null otherwise.
    /// </summary>
    public string? GrpcMethodAction { get; }

    /// <summary>The kind of the gRPC method of <see cref="GrpcMethodAction"/>; <see cref="MatomoCallKind.Http"/> when its metadata does not say.</summary>
    public MatomoCallKind GrpcMethodKind { get; }

    /// <summary>
    /// True for a gRPC method's JSON transcoding route (Microsoft.AspNetCore.Grpc.JsonTranscoding), whose answers carry the
    /// status as an HTTP status and a JSON body, never as <c>grpc-status</c> (see <see cref="GrpcStatusOutcomes.OfJsonTranscoded"/>).
    /// </summary>
    public bool JsonTranscoded { get; }

    /// <summary>The entry of a gRPC method's endpoint: skipped as a plain HTTP request, tracked when the interceptor never saw the call.</summary>
    public static EndpointEntry GrpcMethod(string route, string action, MatomoCallKind kind, bool jsonTranscoded = false) => new(route, action, kind, jsonTranscoded);

    /// <summary>The entry of one of grpc-dotnet's fallbacks for unimplemented methods or services.</summary>
    public static EndpointEntry GrpcUnimplemented(string route, string action) => new(route, action);

    /// <summary>The action name, e.g. <c>GET /users/{id}</c>; <paramref name="method"/> is one of a bounded set (<see cref="HttpMethodNames"/>).</summary>
    public string Action(string method) =>
        _actions.TryGetValue(method, out var action) ? action : _actions.GetOrAdd(method, method + " " + Route);
}
