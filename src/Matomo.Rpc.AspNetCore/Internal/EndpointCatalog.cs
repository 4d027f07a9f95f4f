using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>
/// Classifies endpoints once and caches the result, keyed by the endpoint (weakly, so endpoints a dynamic data source
/// drops are collected). Requests for gRPC methods and SignalR hubs are tracked by their own adapters: they are told
/// apart by the metadata their frameworks put on their endpoints, never by their paths.
/// </summary>
internal sealed class EndpointCatalog
{
    public const string Unmatched = "(unmatched)";

    // Grpc.AspNetCore.Server puts this on every gRPC endpoint (methods, unimplemented-method fallbacks, JSON
    // transcoding routes); compared by name so that the adapter does not depend on gRPC.
    private const string GrpcMethodMetadata = "Grpc.AspNetCore.Server.GrpcMethodMetadata";

    // What MapStaticAssets puts on each file's endpoint.
    private const string StaticAssetDescriptor = "Microsoft.AspNetCore.StaticAssets.StaticAssetDescriptor";

    // The display name MapHealthChecks gives its endpoints; health check endpoints carry no metadata of their own.
    private const string HealthChecksDisplayName = "Health checks";

    private readonly ConditionalWeakTable<Endpoint, EndpointEntry> _entries = new();
    private readonly bool _excludeHealthChecks;
    private readonly bool _excludeStaticFiles;

    public EndpointCatalog(MatomoHttpOptions options)
    {
        _excludeHealthChecks = options.ExcludeHealthChecks;
        _excludeStaticFiles = options.ExcludeStaticFiles;
        UnmatchedEntry = new EndpointEntry(Unmatched, skipped: false);
    }

    public EndpointEntry UnmatchedEntry { get; }

    public EndpointEntry Get(Endpoint? endpoint)
    {
        if (endpoint is null)
        {
            return UnmatchedEntry;
        }

        if (_entries.TryGetValue(endpoint, out var entry))
        {
            return entry;
        }

        entry = Create(endpoint);
        _entries.TryAdd(endpoint, entry);
        return entry;
    }

    private EndpointEntry Create(Endpoint endpoint)
    {
        var skipped = _excludeHealthChecks && string.Equals(endpoint.DisplayName, HealthChecksDisplayName, StringComparison.Ordinal);
        foreach (var item in endpoint.Metadata)
        {
            if (item is HubMetadata)
            {
                skipped = true;
                break;
            }

            var type = item.GetType().FullName;
            if (string.Equals(type, GrpcMethodMetadata, StringComparison.Ordinal)
                || (_excludeStaticFiles && string.Equals(type, StaticAssetDescriptor, StringComparison.Ordinal)))
            {
                skipped = true;
                break;
            }
        }

        return new EndpointEntry(RouteOf(endpoint), skipped);
    }

    /// <summary>The route pattern as written (<c>/users/{id:int}</c>), with a leading '/'; <c>(unmatched)</c> for an endpoint without a route.</summary>
    internal static string RouteOf(Endpoint endpoint)
    {
        // Routing's own endpoints without a route (405 Method Not Allowed for a path known with other methods) mean
        // that no endpoint of the app matched.
        if (endpoint is not RouteEndpoint { RoutePattern: var pattern })
        {
            return Unmatched;
        }

        if (pattern.RawText is { } raw)
        {
            return "/" + raw.TrimStart('/');
        }

        // A pattern built from segments in code has no text: write it back from its parts.
        var text = new StringBuilder();
        foreach (var segment in pattern.PathSegments)
        {
            text.Append('/');
            foreach (var part in segment.Parts)
            {
                switch (part)
                {
                    case RoutePatternLiteralPart literal:
                        text.Append(literal.Content);
                        break;
                    case RoutePatternSeparatorPart separator:
                        text.Append(separator.Content);
                        break;
                    case RoutePatternParameterPart parameter:
                        text.Append('{').Append(parameter.IsCatchAll ? "*" : string.Empty).Append(parameter.Name).Append('}');
                        break;
                }
            }
        }

        return text.Length == 0 ? "/" : text.ToString();
    }
}
