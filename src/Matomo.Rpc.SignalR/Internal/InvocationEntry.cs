using System.Collections.Concurrent;
using System.Reflection;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>
/// The constant part of tracking one hub method mapped at one route: action, URL path, kind and shape. Cached per hub
/// type, method and route, so an invocation allocates no strings.
/// </summary>
internal sealed class InvocationEntry
{
    private static readonly ConcurrentDictionary<(Type Hub, MethodInfo Method, string HubPath), InvocationEntry> Cache = new();

    private InvocationEntry(string hubName, string action, string urlPath, MethodShape shape)
    {
        HubName = hubName;
        Action = action;
        UrlPath = urlPath;
        Shape = shape;
        Kind = shape.Result is null ? MatomoCallKind.HubInvocation : MatomoCallKind.HubStream;
    }

    public string HubName { get; }

    /// <summary><c>{Hub}/{method as the client calls it}</c>, e.g. <c>ChatHub/Send</c>.</summary>
    public string Action { get; }

    /// <summary>The hub's route and the method, e.g. <c>/hubs/chat/Send</c>.</summary>
    public string UrlPath { get; }

    public MatomoCallKind Kind { get; }

    public MethodShape Shape { get; }

    public static InvocationEntry For(Type hubType, MethodInfo method, string hubPath)
    {
        var key = (hubType, method, hubPath);
        if (Cache.TryGetValue(key, out var entry))
        {
            return entry;
        }

        var shape = MethodShape.For(method);
        var hubName = HubNames.For(hubType);
        entry = new InvocationEntry(hubName, hubName + "/" + shape.ClientName, hubPath + "/" + shape.ClientName, shape);
        return Cache.Count < Limits.CacheSize ? Cache.GetOrAdd(key, entry) : entry;
    }
}
