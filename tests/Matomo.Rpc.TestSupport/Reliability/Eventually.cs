using System.Diagnostics;

namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>Waits for a condition that background work makes true, with a bound.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, Func<string> describe)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(describe);
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Not true within {timeout}: {describe()}");
            }

            await Task.Delay(20).ConfigureAwait(false);
        }
    }
}
