namespace Matomo.Rpc;

/// <summary>How much a finding of the Matomo-side check matters.</summary>
public enum MatomoCheckSeverity
{
    /// <summary>Checked and fine.</summary>
    Ok = 0,

    /// <summary>Nothing is lost, but a setting could be better (logged at Information).</summary>
    Advice = 1,

    /// <summary>Matomo will drop or misfile some or all of what is sent (logged at Warning; the health check is degraded).</summary>
    DataLoss = 2,
}
