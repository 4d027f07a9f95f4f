using System.Runtime.CompilerServices;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Keeps one visitor's hits in order when several bulk requests are in flight: hits wait in lanes chosen by their
/// visitor (a hash of what makes Matomo's visitor id), and a lane belongs to at most one batch in flight at a time, so
/// a visitor's later hits leave only after its earlier ones were answered. A batch takes the fullest free lanes first,
/// so a few busy visitors still fill several requests. Lanes hold the hits as taken from the queue; a batch encodes
/// its hits into its own <see cref="HitBuffer"/> when it is taken. Not thread-safe: the sender guards it.
/// </summary>
internal sealed class VisitorLanes
{
    public const int LaneCount = 64;

    // User agents whose hash is remembered (by string object, a power of two): a backend's callers, not every one.
    private const int AgentSlots = 256;

    private readonly Queue<MatomoHit>[] _lanes = new Queue<MatomoHit>[LaneCount];
    private readonly bool[] _busy = new bool[LaneCount];
    private readonly int _batchSize;
    private readonly List<int> _order = new(LaneCount);
    private readonly Action<MatomoHit, HitBuffer, List<PendingHit>, List<PendingHit>> _prepare;
    private readonly string?[] _agents = new string?[AgentSlots];
    private readonly int[] _agentHashes = new int[AgentSlots];

    /// <param name="batchSize">Most hits per batch.</param>
    /// <param name="prepare">Encodes a hit (and its crash hit) into a batch's buffer (<see cref="HitDelivery.Prepare"/>).</param>
    public VisitorLanes(int batchSize, Action<MatomoHit, HitBuffer, List<PendingHit>, List<PendingHit>> prepare)
    {
        (_batchSize, _prepare) = (batchSize, prepare);
        for (var i = 0; i < LaneCount; i++)
        {
            _lanes[i] = new Queue<MatomoHit>();
        }
    }

    /// <summary>Hits held in the lanes (each call's hit once: its crash hit is encoded with it when taken).</summary>
    public int Count { get; private set; }

    /// <summary>Hits in lanes no batch in flight holds: what the next batch can take.</summary>
    public int Ready { get; private set; }

    public bool AnyBusy { get; private set; }

    /// <summary>
    /// The lane of a hit's visitor: the visitor set for the call (<c>uid</c>, <c>cid</c>, <c>_id</c>), else what the
    /// encoder derives the visitor from (the user, the caller's key, or its address and user agent).
    /// </summary>
    public static int LaneOf(MatomoHit hit, MatomoVisitorIdentity identity) => Lane(hit, identity, agentHash: null);

    /// <summary>
    /// <see cref="LaneOf"/>, with the user agent's hash remembered per string object: a caller's user agent comes as the
    /// same string from call to call (the server keeps a connection's header values), so its text is hashed once, not
    /// per hit. The lane is the same as <see cref="LaneOf"/>'s (the hash of the same text).
    /// </summary>
    public int LaneOfCached(MatomoHit hit, MatomoVisitorIdentity identity) => Lane(hit, identity, this);

    private static int Lane(MatomoHit hit, MatomoVisitorIdentity identity, VisitorLanes? agentHash)
    {
        var hash = 0;
        var parameters = hit.Parameters;
        for (var i = 0; i < parameters.Count; i++)
        {
            var (name, value) = parameters[i];
            if (name is "uid" or "cid" or "_id")
            {
                hash = HashCode.Combine(hash, StringComparer.Ordinal.GetHashCode(value));
            }
        }

        if (hash == 0)
        {
            var caller = hit.Caller;
            hash = identity == MatomoVisitorIdentity.UserId && caller.UserId is { Length: > 0 } user
                ? StringComparer.Ordinal.GetHashCode(user)
                : caller.VisitorKey is { } key
                    ? StringComparer.Ordinal.GetHashCode(key)
                    : HashCode.Combine(caller.RemoteAddress, caller.UserAgent is { } ua ? agentHash?.HashOfAgent(ua) ?? StringComparer.Ordinal.GetHashCode(ua) : 0);
        }

        return (int)((uint)hash % LaneCount);
    }

    private int HashOfAgent(string userAgent)
    {
        var slot = RuntimeHelpers.GetHashCode(userAgent) & (AgentSlots - 1);
        if (ReferenceEquals(_agents[slot], userAgent))
        {
            return _agentHashes[slot];
        }

        var hash = StringComparer.Ordinal.GetHashCode(userAgent);
        (_agents[slot], _agentHashes[slot]) = (userAgent, hash);
        return hash;
    }

    public void Add(int lane, MatomoHit hit)
    {
        _lanes[lane].Enqueue(hit);
        Count++;
        if (!_busy[lane])
        {
            Ready++;
        }
    }

    /// <summary>
    /// Takes up to a batch of hits from free lanes, fullest first, and marks those lanes busy until <see cref="Free"/>.
    /// A lane is never split across two batches in flight. Returns null when no free lane has a hit.
    /// </summary>
    public Batch? Take()
    {
        if (Ready == 0)
        {
            return null;
        }

        _order.Clear();
        for (var i = 0; i < LaneCount; i++)
        {
            if (!_busy[i] && _lanes[i].Count > 0)
            {
                _order.Add(i);
            }
        }

        _order.Sort((a, b) => _lanes[b].Count.CompareTo(_lanes[a].Count));
        List<PendingHit> hits = new(Math.Min(_batchSize, Ready));
        List<PendingHit> crashes = [];
        List<int> taken = [];
        var buffer = new HitBuffer();
        var count = 0;
        foreach (var lane in _order)
        {
            if (count >= _batchSize)
            {
                break;
            }

            var queue = _lanes[lane];
            taken.Add(lane);
            _busy[lane] = true;
            Ready -= queue.Count;
            // A call's crash hit is encoded with its hit: it goes with it.
            while (count < _batchSize && queue.TryDequeue(out var next))
            {
                Count--;
                count++;
                _prepare(next, buffer, hits, crashes);
            }
        }

        AnyBusy = true;
        return new Batch(hits, crashes, buffer: buffer) { Lanes = [.. taken] };
    }

    /// <summary>The lanes of a batch that is done (or given up) are free for the next batch.</summary>
    public void Free(Batch batch)
    {
        foreach (var lane in batch.Lanes)
        {
            _busy[lane] = false;
            Ready += _lanes[lane].Count;
        }

        AnyBusy = Array.IndexOf(_busy, true) >= 0;
    }

    /// <summary>Takes every hit held, busy lanes included (shutdown deadline), encoded: the caller spools or counts them.</summary>
    public Batch TakeAll()
    {
        List<PendingHit> hits = new(Count), crashes = [];
        var buffer = new HitBuffer();
        foreach (var queue in _lanes)
        {
            while (queue.TryDequeue(out var hit))
            {
                _prepare(hit, buffer, hits, crashes);
            }
        }

        Count = 0;
        Ready = 0;
        return new Batch(hits, crashes, buffer: buffer);
    }
}
