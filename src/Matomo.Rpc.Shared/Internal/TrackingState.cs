namespace Matomo.Rpc.Internal;

/// <summary>
/// What the Matomo-side check learned and the encoder and the sender must honour while they run. One singleton, always
/// registered and passed explicitly to everything that reads it (tests construct it), so nothing can be cut off the check.
/// </summary>
internal sealed class TrackingState
{
    private volatile bool _tokenTrusted = true;
    private volatile MatomoCheckReport? _lastReport;
    private int _matomoQueues;
    private int _hostBlocked;
    private int _tokenRefusedBySender;
    private volatile CapacityReport? _capacity;

    /// <summary>
    /// False once the check found that Matomo does not accept the token for the site: then <c>cip</c> is not sent
    /// (Matomo would reject every hit with 400) and hits older than 24 hours are treated as for a tokenless client.
    /// </summary>
    public bool TokenTrusted
    {
        get => _tokenTrusted;
        set => _tokenTrusted = value;
    }

    /// <summary>
    /// True once Matomo is known to queue hits (QueuedTracking): the check found it, or a bulk request got the
    /// single-hit answer. Then every hit is checked against Matomo's rules before it is sent, because Matomo would drop
    /// a bad one and every later hit of its request without a word.
    /// </summary>
    public bool MatomoQueues => _matomoQueues != 0;

    /// <summary>Records that Matomo queues hits; true the first time (the caller logs it once).</summary>
    public bool SetMatomoQueues() => Interlocked.Exchange(ref _matomoQueues, 1) == 0;

    /// <summary>
    /// True while Matomo's brute-force detection blocks this host's IP (seen by the sender or the check): Matomo answers
    /// every tracking request that carries the token with HTTP 500. Hits are held and retried meanwhile.
    /// </summary>
    public bool HostBlocked => Volatile.Read(ref _hostBlocked) != 0;

    /// <summary>Records whether the host is blocked; true when that changed (the caller logs the change once).</summary>
    public bool SetHostBlocked(bool blocked) => Interlocked.Exchange(ref _hostBlocked, blocked ? 1 : 0) != (blocked ? 1 : 0);

    /// <summary>True once the sender saw Matomo refuse the hits that need the token (see <see cref="SetTokenRefusedBySender"/>).</summary>
    public bool TokenRefusedBySender => Volatile.Read(ref _tokenRefusedBySender) != 0;

    /// <summary>Records that the sender saw Matomo refuse the token; true the first time (the caller logs it once).</summary>
    public bool SetTokenRefusedBySender() => Interlocked.Exchange(ref _tokenRefusedBySender, 1) == 0;

    public MatomoCheckReport? LastReport
    {
        get => _lastReport;
        set => _lastReport = value;
    }

    /// <summary>Set while calls offer more hits than Matomo takes (<see cref="CapacityMonitor"/>), else null.</summary>
    public CapacityReport? Capacity
    {
        get => _capacity;
        set => _capacity = value;
    }
}
