using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>Works out a hub's route from the request that opened the connection.</summary>
internal static class HubPaths
{
    private const string NegotiateSuffix = "/negotiate";

    /// <summary>
    /// The hub's route, e.g. <c>/hubs/chat</c>: path base and path of the connection's request, without a trailing
    /// <c>/negotiate</c> or '/'. WebSockets, server-sent events and long polling all connect to the hub's route itself
    /// (with the connection id in the query), so only negotiation has a suffix to remove.
    /// </summary>
    public static string FromRequest(HttpRequest request)
    {
        var path = request.PathBase.Add(request.Path).Value ?? string.Empty;
        if (path.EndsWith(NegotiateSuffix, StringComparison.OrdinalIgnoreCase))
        {
            path = path[..^NegotiateSuffix.Length];
        }

        return path.TrimEnd('/');
    }
}
