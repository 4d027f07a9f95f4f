using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>
/// Files that <c>UseStaticFiles</c> serves after <c>UseMatomoTracking</c> match no endpoint; the static file
/// middleware's own hook tells the tracking to leave them out (Matomo:Http:ExcludeStaticFiles).
/// </summary>
internal sealed class StaticFilesExclusion : IPostConfigureOptions<StaticFileOptions>
{
    private readonly IOptions<MatomoHttpOptions> _options;

    public StaticFilesExclusion(IOptions<MatomoHttpOptions> options) => _options = options;

    public void PostConfigure(string? name, StaticFileOptions options)
    {
        if (!_options.Value.ExcludeStaticFiles)
        {
            return;
        }

        var previous = options.OnPrepareResponse;
        options.OnPrepareResponse = context =>
        {
            HttpTracking.Skip(context.Context);
            previous(context);
        };
    }
}
