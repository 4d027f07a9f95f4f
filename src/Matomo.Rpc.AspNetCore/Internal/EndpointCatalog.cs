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
/// apart by the metadata their frameworks put on their endpoints, never by their paths. grpc-dotnet's fallbacks for
/// unimplemented methods and services are gRPC calls that no interceptor ever sees: they are tracked here, as what the
/// client saw (see <see cref="GrpcStatusOutcomes"/>), under a bounded action name. So are the calls to gRPC methods
/// that grpc-dotnet fails before the interceptor runs (see <see cref="EndpointEntry.GrpcMethodAction"/>).
/// </summary>
internal sealed class EndpointCatalog
{
    public const string Unmatched = "(unmatched)";

    /// <summary>The action of a call to a gRPC service the app does not implement; a known service's unknown method is <c>greet.Greeter/(unimplemented)</c>.</summary>
    public const string Unimplemented = "(unimplemented)";

    // Grpc.AspNetCore.Server puts this on the endpoints of the methods services implement (JSON transcoding routes
    // included); compared by name so that the adapter does not depend on gRPC. Not on its fallbacks for unimplemented
    // methods and services: those carry no metadata at all.
    private const string GrpcMethodMetadata = "Grpc.AspNetCore.Server.GrpcMethodMetadata";

    // The route constraint grpc-dotnet puts on the method parameter of its unimplemented fallbacks, which it maps as
    // "{service}/{unimplementedMethod:grpcunimplemented}" (one per service) and
    // "{unimplementedService}/{unimplementedMethod:grpcunimplemented}" (one per app). The constraint matches gRPC
    // requests only (by their content type); it is the most specific sign of these endpoints, their display names
    // ("gRPC - Unimplemented method for greet.Greeter") being only text.
    private const string GrpcUnimplementedConstraint = "grpcunimplemented";

    // What Microsoft.AspNetCore.Grpc.JsonTranscoding puts (beside GrpcMethodMetadata) on the HTTP routes it maps to a method.
    private const string GrpcJsonTranscodingMetadata = "Microsoft.AspNetCore.Grpc.JsonTranscoding.GrpcJsonTranscodingMetadata";

    // What MapStaticAssets puts on each file's endpoint.
    private const string StaticAssetDescriptor = "Microsoft.AspNetCore.StaticAssets.StaticAssetDescriptor";

    // The display name MapHealthChecks gives its endpoints; health check endpoints carry no metadata of their own.
    private const string HealthChecksDisplayName = "Health checks";

    private readonly ConditionalWeakTable<Endpoint, EndpointEntry> _entries = new();
    private readonly bool _excludeHealthChecks;
    private readonly bool _excludeStaticFiles;

    // grpc-dotnet's options, global and per service, whose Interceptors say whether MatomoInterceptor runs for a service;
    // found by name, so that the adapter does not depend on gRPC.
    private const string MatomoInterceptorType = "Matomo.Rpc.Grpc.MatomoInterceptor";
    private static readonly Type? GrpcServiceOptions = Type.GetType("Grpc.AspNetCore.Server.GrpcServiceOptions, Grpc.AspNetCore.Server", throwOnError: false);
    private static readonly Type? GrpcServiceOptionsOfService = Type.GetType("Grpc.AspNetCore.Server.GrpcServiceOptions`1, Grpc.AspNetCore.Server", throwOnError: false);

    private readonly IServiceProvider? _services;

    public EndpointCatalog(MatomoHttpOptions options, IServiceProvider? services = null)
    {
        _services = services;
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
        if (GrpcUnimplementedAction(endpoint) is { } unimplemented)
        {
            return EndpointEntry.GrpcUnimplemented(RouteOf(endpoint), unimplemented);
        }

        var skipped = _excludeHealthChecks && string.Equals(endpoint.DisplayName, HealthChecksDisplayName, StringComparison.Ordinal);
        foreach (var item in endpoint.Metadata)
        {
            if (item is HubMetadata)
            {
                skipped = true;
                break;
            }

            var type = item.GetType().FullName;
            if (string.Equals(type, GrpcMethodMetadata, StringComparison.Ordinal))
            {
                // A service the interceptor is not registered for was left untracked by the app: so it stays.
                if (HasMatomoInterceptor(_services, item) == false)
                {
                    return new EndpointEntry(RouteOf(endpoint), skipped: true);
                }

                var (action, kind) = GrpcMethodOf(item, endpoint);
                return EndpointEntry.GrpcMethod(RouteOf(endpoint), action, kind, HasMetadata(endpoint, GrpcJsonTranscodingMetadata));
            }

            if (_excludeStaticFiles && string.Equals(type, StaticAssetDescriptor, StringComparison.Ordinal))
            {
                skipped = true;
                break;
            }
        }

        return new EndpointEntry(RouteOf(endpoint), skipped);
    }

    /// <summary>
    /// For grpc-dotnet's fallback of unimplemented methods or services, the action its calls are tracked as: the service
    /// (the literal segment before the method parameter) followed by <c>/(unimplemented)</c>, or <c>(unimplemented)</c>
    /// for an unknown service. Bounded by the services the app maps, whatever names the callers send. Null otherwise.
    /// </summary>
    internal static string? GrpcUnimplementedAction(Endpoint endpoint)
    {
        if (endpoint is not RouteEndpoint { RoutePattern: var pattern })
        {
            return null;
        }

        var segments = pattern.PathSegments;
        for (var i = 0; i < segments.Count; i++)
        {
            if (segments[i].Parts is not [RoutePatternParameterPart parameter] || !HasPolicy(parameter, GrpcUnimplementedConstraint))
            {
                continue;
            }

            return i > 0 && segments[i - 1].Parts is [RoutePatternLiteralPart service]
                ? service.Content + "/" + Unimplemented
                : Unimplemented;
        }

        return null;
    }

    /// <summary>
    /// The action and kind the interceptor tracks the calls of a gRPC method's endpoint as, read from its
    /// <c>GrpcMethodMetadata</c> by name (its <c>Method</c>: an <c>IMethod</c> with <c>FullName</c>, e.g.
    /// <c>/greet.Greeter/SayHello</c>, and <c>Type</c>, e.g. <c>Unary</c>), once per endpoint. Should a later grpc-dotnet
    /// rename them: the route without its leading '/' and <see cref="MatomoCallKind.Http"/>.
    /// </summary>
    internal static (string Action, MatomoCallKind Kind) GrpcMethodOf(object metadata, Endpoint endpoint)
    {
        var method = metadata.GetType().GetProperty("Method")?.GetValue(metadata);
        var type = method?.GetType();
        var action = type?.GetProperty("FullName")?.GetValue(method) as string;
        var methodType = type?.GetProperty("Type")?.GetValue(method)?.ToString();
        var kind = methodType switch
        {
            "Unary" => MatomoCallKind.Unary,
            "ClientStreaming" => MatomoCallKind.ClientStreaming,
            "ServerStreaming" => MatomoCallKind.ServerStreaming,
            "DuplexStreaming" => MatomoCallKind.DuplexStreaming,
            _ => MatomoCallKind.Http,
        };

        return (string.IsNullOrEmpty(action) ? RouteOf(endpoint).TrimStart('/') : action, kind);
    }

    /// <summary>
    /// Whether <c>MatomoInterceptor</c> runs for the service of a gRPC method's endpoint: registered in grpc-dotnet's
    /// global options (<c>AddGrpc(o => o.Interceptors.Add&lt;MatomoInterceptor&gt;())</c>) or the service's own
    /// (<c>AddServiceOptions&lt;TService&gt;</c>), read by name once per endpoint. Null when that cannot be told (no
    /// services, or a later grpc-dotnet renamed what is read): the adapter then assumes it does.
    /// </summary>
    internal static bool? HasMatomoInterceptor(IServiceProvider? services, object metadata)
    {
        try
        {
            if (services is null || GrpcServiceOptions is null || GrpcServiceOptionsOfService is null
                || metadata.GetType().GetProperty("ServiceType")?.GetValue(metadata) is not Type service)
            {
                return null;
            }

            var global = Interceptors(services, GrpcServiceOptions);
            var own = Interceptors(services, GrpcServiceOptionsOfService.MakeGenericType(service));
            if (global is null || own is null)
            {
                return null;
            }

            return Contains(global) || Contains(own);
        }
#pragma warning disable CA1031 // an unknown answer, not a failure of the request
        catch (Exception)
#pragma warning restore CA1031
        {
            return null;
        }

        static System.Collections.IEnumerable? Interceptors(IServiceProvider services, Type optionsType)
        {
            var options = services.GetService(typeof(Microsoft.Extensions.Options.IOptions<>).MakeGenericType(optionsType));
            var value = options?.GetType().GetProperty("Value")?.GetValue(options);
            return value?.GetType().GetProperty("Interceptors")?.GetValue(value) as System.Collections.IEnumerable;
        }

        static bool Contains(System.Collections.IEnumerable registrations)
        {
            foreach (var registration in registrations)
            {
                if (registration?.GetType().GetProperty("Type")?.GetValue(registration) is Type { FullName: MatomoInterceptorType })
                {
                    return true;
                }
            }

            return false;
        }
    }

    private static bool HasMetadata(Endpoint endpoint, string typeName)
    {
        foreach (var item in endpoint.Metadata)
        {
            if (string.Equals(item.GetType().FullName, typeName, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasPolicy(RoutePatternParameterPart parameter, string name)
    {
        foreach (var policy in parameter.ParameterPolicies)
        {
            if (string.Equals(policy.Content, name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
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
