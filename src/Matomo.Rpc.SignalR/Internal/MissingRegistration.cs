using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>
/// Says once per application (per logger, which DI keeps as a singleton) that the filter runs without
/// <c>AddMatomoTracking</c>: SignalR may create the filter for every invocation, and one error is enough.
/// </summary>
internal static class MissingRegistration
{
    private static readonly ConditionalWeakTable<ILogger, object> Reported = [];

    public static void Report(ILogger logger)
    {
        if (Reported.TryAdd(logger, Reported))
        {
            Log.TrackerMissing(logger);
        }
    }
}
