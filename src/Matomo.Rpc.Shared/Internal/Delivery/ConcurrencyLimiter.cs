namespace Matomo.Rpc.Internal;

/// <summary>
/// How many bulk requests may be in flight: adapts to what Matomo sustains, within
/// <see cref="MatomoSendingOptions.MaxConcurrentRequests"/> as a ceiling. Starts at one request; grows by one request per
/// round of answers while full batches are answered about as fast as the fastest recent answers (Matomo has idle
/// workers: more in flight means more hits per second); holds, then shrinks by one per round, once answers slow down in
/// proportion to what is in flight (Matomo is saturated: more in flight only queues there); halves on an answer that
/// says Matomo is overloaded (429, 503, a timeout, no connection) or on an answer slower than half the HTTP timeout
/// (close to a timeout, and a request that times out may still be stored and then be sent twice).
/// </summary>
/// <remarks>
/// The latency signal is Vegas's: with <c>base</c> the lowest smoothed answer time per hit of full batches in the last
/// two windows and <c>latency</c> the smoothed one now, <c>limit * (1 - base / latency)</c> estimates how many requests wait
/// inside Matomo instead of being worked on. Fewer than <see cref="GrowBelow"/>: grow; more than
/// <see cref="ShrinkAbove"/>: shrink. The band is narrow (half a request to one) because a request waiting inside
/// Matomo holds one of its PHP workers and adds nothing: against the kit's Matomo on 2 cores, 4 requests in flight stored
/// no more hits per second than 2 and doubled every answer's time (and the wait of Matomo's other visitors); a band of 1
/// to 2 kept the limit at 4 there. Only full batches feed it: a smaller batch means the queue is empty, and then there
/// is nothing to gain from more requests. Thread-safe.
/// </remarks>
internal sealed class ConcurrencyLimiter
{
    /// <summary>Requests waiting inside Matomo below which the limit grows.</summary>
    public const double GrowBelow = 0.5;

    /// <summary>Requests waiting inside Matomo above which the limit shrinks.</summary>
    public const double ShrinkAbove = 1;

    /// <summary>Length of one window of the baseline (the lowest answer time is kept over two of them).</summary>
    public static readonly TimeSpan BaselineWindow = TimeSpan.FromMinutes(2);

    private const double Smoothing = 0.3;

    private readonly Lock _gate = new();
    private readonly Queue<TaskCompletionSource> _waiters = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _slowAnswer;
    private int _limit = 1;
    private int _credits;
    private int _inFlight;
    private double _smoothed;
    private double _baseline = double.MaxValue;
    private double _previousBaseline = double.MaxValue;
    private long _windowStarted;
    private long _lastDecrease;
    private bool _fixed;

    public ConcurrencyLimiter(int ceiling, TimeSpan slowAnswer, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ceiling, 1);
        Ceiling = ceiling;
        _slowAnswer = slowAnswer;
        _time = time;
        _windowStarted = time.GetTimestamp();
        _lastDecrease = long.MinValue;
    }

    public int Ceiling { get; }

    /// <summary>Requests that may be in flight now (1 to <see cref="Ceiling"/>).</summary>
    public int Limit
    {
        get
        {
            lock (_gate)
            {
                return CurrentLimit;
            }
        }
    }

    public int InFlight => Volatile.Read(ref _inFlight);

    private int CurrentLimit => _limit;

    /// <summary>
    /// Holds the limit at <paramref name="limit"/> (1 to <see cref="Ceiling"/>) and stops adapting it: for measurements
    /// (benchmarks/Matomo.Rpc.Capacity compares the adaptive limit with fixed ones against the same Matomo).
    /// </summary>
    public void Fix(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, Ceiling);
        lock (_gate)
        {
            _fixed = true;
            _limit = limit;
            WakeWaiters();
        }
    }

    /// <summary>Waits for a request slot; every completed wait must be followed by one <see cref="Release"/>.</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_gate)
        {
            if (_waiters.Count == 0 && _inFlight < CurrentLimit)
            {
                _inFlight++;
                return Task.CompletedTask;
            }

            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue(waiter);
        }

        if (!cancellationToken.CanBeCanceled)
        {
            return waiter.Task;
        }

        return WaitCancellableAsync(waiter, cancellationToken);
    }

    public void Release()
    {
        lock (_gate)
        {
            _inFlight--;
            WakeWaiters();
        }
    }

    /// <summary>
    /// Matomo answered a request of <paramref name="hits"/> hits sent at <paramref name="sentAt"/> (a
    /// <see cref="TimeProvider.GetTimestamp"/>) after <paramref name="latency"/>; <paramref name="full"/> when the
    /// request carried a full batch. The time it took is judged per hit (batches may grow, see <see cref="BatchSizer"/>:
    /// twice the hits take about twice as long without Matomo being any busier), but an answer slower than the slow
    /// answer halves the limit whatever its size.
    /// </summary>
    public void Answered(long sentAt, TimeSpan latency, int hits, bool full)
    {
        lock (_gate)
        {
            if (_fixed)
            {
                return;
            }

            if (latency > _slowAnswer)
            {
                Decrease(sentAt, 0.5);
                return;
            }

            if (!full)
            {
                return;
            }

            var seconds = Math.Max(latency.TotalSeconds / Math.Max(hits, 1), 1e-9);
            _smoothed = _smoothed == 0 ? seconds : _smoothed + (Smoothing * (seconds - _smoothed));
            var now = _time.GetTimestamp();
            if (_time.GetElapsedTime(_windowStarted, now) >= BaselineWindow)
            {
                // A new window: the baseline forgets answers older than two windows, so it follows a Matomo that became
                // slower for good. So that it does not creep up with the requests in flight (each window's fastest answer
                // then waited behind the others), the limit is halved for a round: the answers of that round measure
                // Matomo with room to spare, and the limit grows back a round at a time.
                _previousBaseline = _baseline;
                _baseline = double.MaxValue;
                _windowStarted = now;
                if (_limit > 1)
                {
                    Decrease(sentAt, 0.5);
                    return;
                }
            }

            _baseline = Math.Min(_baseline, _smoothed);
            var baseline = Math.Min(_baseline, _previousBaseline);
            if (sentAt < _lastDecrease)
            {
                return; // sent before the last decrease: it says nothing about the limit now
            }

            var waiting = _limit * (1 - (baseline / _smoothed));
            if (waiting < GrowBelow)
            {
                // One more request per round: after as many such answers as requests may be in flight.
                _credits = Math.Max(_credits, 0) + 1;
                if (_credits >= _limit && _limit < Ceiling)
                {
                    _limit++;
                    _credits = 0;
                    WakeWaiters();
                }
            }
            else if (waiting > ShrinkAbove)
            {
                _credits = Math.Min(_credits, 0) - 1;
                if (-_credits >= _limit && _limit > 1)
                {
                    _limit--;
                    _credits = 0;
                }
            }
        }
    }

    /// <summary>A request sent at <paramref name="sentAt"/> found Matomo overloaded or unreachable (429, 503, a timeout, no connection).</summary>
    public void Overloaded(long sentAt)
    {
        lock (_gate)
        {
            Decrease(sentAt, 0.5);
        }
    }

    private void Decrease(long sentAt, double factor)
    {
        // One decrease per round: the other requests in flight when it happened carry the same news.
        if (_fixed || sentAt < _lastDecrease)
        {
            return;
        }

        _limit = Math.Max(1, (int)(_limit * factor));
        _credits = 0;
        _lastDecrease = _time.GetTimestamp();
    }

    private void WakeWaiters()
    {
        while (_waiters.Count > 0 && _inFlight < CurrentLimit)
        {
            var waiter = _waiters.Dequeue();
            if (waiter.TrySetResult())
            {
                _inFlight++;
            }
        }
    }

    private static async Task WaitCancellableAsync(TaskCompletionSource waiter, CancellationToken cancellationToken)
    {
        using (cancellationToken.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetCanceled(), waiter))
        {
            await waiter.Task.ConfigureAwait(false);
        }
    }
}
