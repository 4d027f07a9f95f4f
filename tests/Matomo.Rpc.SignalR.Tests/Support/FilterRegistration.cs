namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>How the test host registers <see cref="MatomoHubFilter"/>.</summary>
public enum FilterRegistration
{
    /// <summary><c>AddSignalR().AddHubOptions&lt;ChatHub&gt;(o =&gt; o.AddFilter&lt;MatomoHubFilter&gt;())</c>: PlainHub is not tracked.</summary>
    PerHub,

    /// <summary><c>AddSignalR(o =&gt; o.AddFilter&lt;MatomoHubFilter&gt;())</c>, the filter not in the services (activated per call).</summary>
    Global,

    /// <summary>As <see cref="Global"/>, with the filter also registered as a singleton service.</summary>
    GlobalSingleton,
}
