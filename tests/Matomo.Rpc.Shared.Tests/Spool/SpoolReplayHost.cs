using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>The next start of an app over a spool directory an earlier process left hits in: a plain host that sends to the stand-in.</summary>
internal static class SpoolReplayHost
{
    public static IHost Build(SpoolDirectory directory, MatomoStandIn matomo)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = directory.Root, Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddMatomoTracking(o =>
        {
            o.TrackerUrl = matomo.TrackerUrl;
            o.SiteId = matomo.SiteId;
            o.Spool.Directory = directory.Spool;
        });
        return builder.Build();
    }
}
