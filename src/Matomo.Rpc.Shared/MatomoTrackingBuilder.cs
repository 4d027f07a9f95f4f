using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc;

/// <summary>Returned by <c>AddMatomoTracking</c> to configure tracking further.</summary>
public sealed class MatomoTrackingBuilder
{
    internal MatomoTrackingBuilder(IServiceCollection services, IHttpClientBuilder httpClient, IConfiguration? configuration = null)
    {
        Services = services;
        HttpClient = httpClient;
        Configuration = configuration;
    }

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The HTTP client used to reach Matomo: add a proxy, handlers or resilience here.</summary>
    public IHttpClientBuilder HttpClient { get; }

    /// <summary>
    /// The configuration section tracking was added from (usually <c>Matomo</c>), or null when it was configured in code:
    /// adapters read their own sub-section from it (the HTTP adapter reads <c>Matomo:Http</c>).
    /// </summary>
    public IConfiguration? Configuration { get; }
}
