namespace Matomo.Rpc;

/// <summary>The check of the Matomo side (site, token rights, custom dimensions, plugins) run at start-up.</summary>
public class MatomoCheckOptions
{
    /// <summary>Runs the check in the background at start-up (never delays the first call). Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Runs the check before the app starts and stops the start when it finds data loss or cannot reach Matomo.
    /// Default false.
    /// </summary>
    public bool FailStartup { get; set; }

    /// <summary>Longest time the whole check may take. Default 10 seconds.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}
