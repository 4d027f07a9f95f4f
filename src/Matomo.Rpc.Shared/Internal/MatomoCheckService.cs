using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Runs the Matomo-side check at start-up: in the background (never delays the first call), or before start when
/// <see cref="MatomoCheckOptions.FailStartup"/> is on.
/// </summary>
internal sealed class MatomoCheckService : IHostedService, IDisposable
{
    private readonly MatomoSiteCheck _check;
    private readonly MatomoOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _running;

    public MatomoCheckService(MatomoSiteCheck check, MatomoOptions options, ILogger logger)
    {
        _check = check;
        _options = options;
        _logger = logger;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Check.Enabled || _options.LogOnly)
        {
            return;
        }

        if (_options.Check.FailStartup)
        {
            var report = await _check.RunAsync(cancellationToken).ConfigureAwait(false);
            if (report.LosesData)
            {
                throw new InvalidOperationException(
                    "Matomo:Check:FailStartup is on and the check of the Matomo side found data loss:" + Environment.NewLine + report);
            }

            return;
        }

        _running = Task.Run(RunInBackgroundAsync, CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_running is { } running)
        {
            await running.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public void Dispose() => _stopping.Dispose();

    private async Task RunInBackgroundAsync()
    {
        try
        {
            await _check.RunAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
#pragma warning disable CA1031 // the check must never take the app down
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.CheckFailed(_logger, ex);
        }
    }
}
