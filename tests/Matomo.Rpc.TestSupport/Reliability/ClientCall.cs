using System.Diagnostics;

namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>One call as the client saw it: who made it, its sequence number, and when it started and ended (UTC).</summary>
public sealed record ClientCall(string Caller, int Sequence, DateTimeOffset Started, DateTimeOffset Ended, TimeSpan Duration)
{
    public (string Caller, int Sequence) Key => (Caller, Sequence);

    /// <summary>Runs <paramref name="call"/> and records when it started and ended, as the client saw it.</summary>
    public static async Task<ClientCall> TimeAsync(string caller, int sequence, Func<Task> call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        await call().ConfigureAwait(false);
        var duration = clock.Elapsed;
        return new ClientCall(caller, sequence, started, DateTimeOffset.UtcNow, duration);
    }
}
