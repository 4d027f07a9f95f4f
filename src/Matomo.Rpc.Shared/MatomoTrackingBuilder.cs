using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc;

/// <summary>Returned by <c>AddMatomoTracking</c> to configure tracking further.</summary>
public sealed class MatomoTrackingBuilder
{
    internal MatomoTrackingBuilder(IServiceCollection services, IHttpClientBuilder httpClient)
    {
        Services = services;
        HttpClient = httpClient;
    }

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The HTTP client used to reach Matomo: add a proxy, handlers or resilience here.</summary>
    public IHttpClientBuilder HttpClient { get; }
}
