using System.Globalization;

namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>
/// The per-adapter driver of <see cref="ReliabilityTests{THost}"/>: a real host of one adapter tracking into a Matomo stand-in,
/// and real clients making its calls. Each scenario is written once in <see cref="ReliabilityTests{THost}"/>; what an adapter
/// genuinely does differently (how it is called, which hostile input reaches it, what its service code can do with a
/// token) is said here, by each adapter's host.
/// </summary>
public abstract class ReliabilityHost : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private int _stopped;

    protected ReliabilityHost(MatomoStandIn matomo, CapturingLoggerProvider logs)
    {
        Matomo = matomo;
        Logs = logs;
    }

    public MatomoStandIn Matomo { get; }

    /// <summary>What the host logged, at the level the scenario asked for.</summary>
    public CapturingLoggerProvider Logs { get; }

    public abstract MatomoTracker Tracker { get; }

    /// <summary>The action of a hit made by <see cref="CallAsync"/>.</summary>
    public abstract string CallAction { get; }

    /// <summary>The adapter's event for a failure of its own tracking code, which no scenario may log.</summary>
    public abstract string TrackingFailedEvent { get; }

    /// <summary>The parameter that <see cref="PoisonCallAsync"/> sets to <c>poison</c>.</summary>
    public abstract string PoisonParameter { get; }

    public static string CallerName(int caller) => "caller-" + caller.ToString(CultureInfo.InvariantCulture);

    /// <summary>Gets the callers ready before the scenario starts (a SignalR caller is a connection); nothing for the others.</summary>
    public virtual Task ConnectAsync(int callers) => Task.CompletedTask;

    /// <summary>One successful call numbered <paramref name="sequence"/> for <paramref name="caller"/>, recorded so that <see cref="Key"/> finds both in its hit.</summary>
    public abstract Task<ClientCall> CallAsync(string caller, int sequence);

    /// <summary>One call whose hit sets <see cref="PoisonParameter"/> to <c>poison</c>.</summary>
    public abstract Task PoisonCallAsync();

    /// <summary>One call that fails in the service; returns what the client saw of the failure.</summary>
    public abstract Task<string> FailingCallAsync();

    /// <summary>The (caller, sequence) of a hit made by <see cref="CallAsync"/>.</summary>
    public abstract (string Caller, int Sequence) Key(StoredHit hit);

    /// <summary>Hostile callers, and hostile values in the service's per-call API, as far as the adapter lets them in.</summary>
    public abstract Task<HostileRun> RunHostileCallersAsync();

    /// <summary>What hostile input must have done to the hits of this adapter, beyond what every adapter checks.</summary>
    public abstract Task AssertHostileOutcomeAsync(HostileRun run, IReadOnlyList<StoredHit> hits);

    /// <summary>
    /// Service code handed the token for per-call values, where the adapter's test service can do so; the refusals the
    /// per-call API threw go to <paramref name="exceptions"/>. Returns the number of hits it made.
    /// </summary>
    public virtual Task<int> HandTokenToServiceCodeAsync(string token, ICollection<string> exceptions) => Task.FromResult(0);

    /// <summary>
    /// <paramref name="callers"/> callers in parallel, each making calls <paramref name="first"/> to
    /// <paramref name="first"/> + <paramref name="count"/> - 1 one after the other.
    /// </summary>
    public async Task<IReadOnlyList<ClientCall>> RunCallersAsync(int callers, int first, int count)
    {
        var all = await Task.WhenAll(Enumerable.Range(0, callers).Select(async c =>
        {
            var done = new List<ClientCall>(count);
            for (var i = first; i < first + count; i++)
            {
                done.Add(await CallAsync(CallerName(c), i).ConfigureAwait(false));
            }

            return done;
        })).WaitAsync(Timeout).ConfigureAwait(false);
        return [.. all.SelectMany(c => c)];
    }

    /// <summary>Stops the host as the app would (the tracking drains); once, however often called.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0)
        {
            await StopHostAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await DisposeHostAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    protected abstract Task StopHostAsync();

    protected abstract ValueTask DisposeHostAsync();
}
