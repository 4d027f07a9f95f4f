using System.Collections.Concurrent;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>A hub's name in Matomo (its class name, without a generic arity) and the actions of its connection events.</summary>
internal sealed class HubNames
{
    private static readonly ConcurrentDictionary<Type, HubNames> Cache = new();

    private HubNames(string name)
    {
        Name = name;
        ConnectAction = name + "/connect";
        DisconnectAction = name + "/disconnect";
    }

    public string Name { get; }

    public string ConnectAction { get; }

    public string DisconnectAction { get; }

    public static string For(Type hubType) => Get(hubType).Name;

    public static HubNames Get(Type hubType)
    {
        if (Cache.TryGetValue(hubType, out var names))
        {
            return names;
        }

        var name = hubType.Name;
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        names = new HubNames(tick > 0 ? name[..tick] : name);
        return Cache.Count < Limits.CacheSize ? Cache.GetOrAdd(hubType, names) : names;
    }
}
