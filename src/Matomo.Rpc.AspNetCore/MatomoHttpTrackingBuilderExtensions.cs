using Matomo.Rpc;
using Matomo.Rpc.AspNetCore;
using Matomo.Rpc.AspNetCore.Internal;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Matomo tracking of plain HTTP requests.</summary>
public static class MatomoHttpTrackingBuilderExtensions
{
    /// <summary>
    /// Adds tracking of plain HTTP requests, with the options of the <c>Http</c> sub-section of the configuration that
    /// tracking was added from (<c>Matomo:Http</c>), then <paramref name="configure"/>. Unknown keys and invalid values
    /// fail at start-up with a message naming the key. Add the middleware with <c>app.UseMatomoTracking()</c>.
    /// Calling it again only applies <paramref name="configure"/>.
    /// </summary>
    /// <example>
    /// <code>
    /// builder.Services.AddMatomoTracking(builder.Configuration.GetSection("Matomo"))
    ///     .AddHttpTracking(o => o.IgnoredMethods.Add("OPTIONS"));
    /// </code>
    /// </example>
    /// <param name="builder">The builder returned by <c>AddMatomoTracking</c>.</param>
    /// <param name="configure">Configures the options in code, after the configuration.</param>
    /// <returns>The builder.</returns>
    public static MatomoTrackingBuilder AddHttpTracking(this MatomoTrackingBuilder builder, Action<MatomoHttpOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<MatomoHttpOptions>();
        if (!services.Any(d => d.ServiceType == typeof(HttpTrackingMarker)))
        {
            services.AddSingleton<HttpTrackingMarker>();
            if (builder.Configuration is { } configuration)
            {
                options.Bind(configuration.GetSection(MatomoHttpOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
            }

            options.ValidateOnStart();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MatomoHttpOptions>, MatomoHttpOptionsValidator>());
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<StaticFileOptions>, StaticFilesExclusion>());
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }

        return builder;
    }
}
