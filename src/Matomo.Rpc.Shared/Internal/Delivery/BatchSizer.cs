namespace Matomo.Rpc.Internal;

/// <summary>
/// How many hits the next live batch may take: <see cref="MatomoSendingOptions.BatchSize"/>, grown toward
/// <see cref="MatomoSendingOptions.MaxBatchSize"/> while hits come faster than batches of the current size carry them
/// (a batch was full when taken and more hits were waiting) and Matomo answers such a batch so fast that one twice as
/// large would still be answered within <see cref="FastAnswer"/>; halved back (never below <c>BatchSize</c>) on an
/// answer slower than <see cref="SlowAnswer"/>, on any failure (429, 503, a timeout, no connection, a rollback, a
/// refusal), and when a batch did not fill within the flush interval (the load is gone: hits should not wait longer).
/// </summary>
/// <remarks>
/// Each bulk request costs the service about the same CPU whatever its size (~80 µs measured), so under load larger
/// batches make a hit cheaper; but a request's answer time grows with its size, and a request that times out may have
/// been stored and is then sent twice. A real Matomo stores a few hundred hits a second, so it answers a batch of 100 in
/// more than 0.1 s and batches stay at <c>BatchSize</c>; an endpoint that answers within milliseconds (a very fast
/// tracker, one that only takes the hits) lets them grow. Under QueuedTracking the sender keeps <c>BatchSize</c> (see
/// <see cref="HitDelivery.BatchSize"/>): there a bad hit drops the rest of its request. Only the live batches grow;
/// spooled hits are replayed in requests of <c>BatchSize</c>. Thread-safe.
/// </remarks>
internal sealed class BatchSizer
{
    /// <summary>Bytes of encoded hits beyond which a batch larger than <c>BatchSize</c> takes no more hits.</summary>
    /// <remarks>Web servers commonly refuse larger bodies (nginx's default limit is 1 MiB; the JSON adds little).</remarks>
    public const int MaxGrownBytes = 512 * 1024;

    /// <summary>Longest answer a batch twice as large may be expected to take for batches to grow.</summary>
    public static readonly TimeSpan FastAnswer = TimeSpan.FromMilliseconds(100);

    /// <summary>An answer slower than this halves the batch size.</summary>
    public static readonly TimeSpan SlowAnswer = TimeSpan.FromMilliseconds(250);

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _fast;
    private readonly TimeSpan _slow;
    private int _size;
    private long _lastDecrease = long.MinValue;

    /// <param name="min">The batch size to start from and never go below (<c>BatchSize</c>).</param>
    /// <param name="max">The most it grows to (<c>MaxBatchSize</c>; at most <paramref name="min"/> turns growth off).</param>
    /// <param name="httpTimeout">The request timeout: the answer times above are kept well below it.</param>
    /// <param name="time">The clock of the answers' timestamps.</param>
    public BatchSizer(int min, int max, TimeSpan httpTimeout, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(min, 1);
        (Min, Max, _time, _size) = (min, Math.Max(min, max), time, min);
        _fast = Shorter(FastAnswer, httpTimeout / 20);
        _slow = Shorter(SlowAnswer, httpTimeout / 8);
    }

    public int Min { get; }

    public int Max { get; }

    /// <summary>Most hits the next live batch may take (<see cref="Min"/> to <see cref="Max"/>).</summary>
    public int Size => Volatile.Read(ref _size);

    /// <summary>
    /// Matomo answered a request of <paramref name="hits"/> hits sent at <paramref name="sentAt"/> (a
    /// <see cref="TimeProvider.GetTimestamp"/>) after <paramref name="latency"/>; <paramref name="full"/> when its batch
    /// was taken full while more hits waited (see <see cref="Batch.Backlogged"/>).
    /// </summary>
    public void Answered(long sentAt, TimeSpan latency, int hits, bool full)
    {
        if (latency > _slow)
        {
            Decrease(sentAt);
            return;
        }

        if (!full || hits <= 0 || sentAt < Volatile.Read(ref _lastDecrease))
        {
            return;
        }

        lock (_gate)
        {
            // Answer time grows with the batch: the projection for twice the hits must stay fast.
            var grown = (int)Math.Min(Max, 2L * _size);
            if (grown > _size && latency.Ticks / (double)hits * grown <= _fast.Ticks)
            {
                Volatile.Write(ref _size, grown);
            }
        }
    }

    /// <summary>A request sent at <paramref name="sentAt"/> failed (overloaded, unreachable, rolled back or refused): halve.</summary>
    public void Failed(long sentAt) => Decrease(sentAt);

    /// <summary>A batch did not fill within the flush interval: halve (hits come slower than this size needs).</summary>
    public void Unfilled() => Decrease(_time.GetTimestamp());

    private void Decrease(long sentAt)
    {
        lock (_gate)
        {
            // One decrease per round: the other requests in flight when it happened carry the same news.
            if (sentAt < _lastDecrease)
            {
                return;
            }

            Volatile.Write(ref _size, Math.Max(Min, _size / 2));
            Volatile.Write(ref _lastDecrease, _time.GetTimestamp());
        }
    }

    private static TimeSpan Shorter(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
