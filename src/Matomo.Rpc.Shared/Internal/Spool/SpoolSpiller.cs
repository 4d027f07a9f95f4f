using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// Moves hits from the queue to the spool when they would otherwise be lost: while Matomo fails and more than a tenth of
/// the queue (at least a batch) waits, when the queue is nearly full, and at stop. Runs on its own thread, started and
/// ended by the sender; it polls, so calls pay nothing.
/// </summary>
internal sealed class SpoolSpiller
{
    private readonly HitQueue _queue;
    private readonly HitDelivery _delivery;
    private readonly HitSpool _spool;
    private readonly SendHealth? _health;
    private readonly MatomoSendingOptions _sending;
    private readonly Lock _encoding;
    private readonly Func<bool> _stopping;
    private readonly Action<Batch> _deliverNotKept;
    private readonly ILogger _logger;
    private readonly int _highWater;
    private int _spillLogged;

    // encoding: held while hits are read from the queue and encoded (the encoder is not thread-safe); stopping: the
    // sender stops; deliverNotKept: delivers hits the spool turned unusable for on the way, as without a spool.
    public SpoolSpiller(HitQueue queue, HitDelivery delivery, HitSpool spool, SendHealth? health, MatomoSendingOptions sending,
        Lock encoding, Func<bool> stopping, Action<Batch> deliverNotKept, ILogger logger)
    {
        (_queue, _delivery, _spool, _health, _sending) = (queue, delivery, spool, health, sending);
        (_encoding, _stopping, _deliverNotKept, _logger) = (encoding, stopping, deliverNotKept, logger);

        // A tenth of the queue (at least a batch): while Matomo fails, the rest of the queue is room for the calls that
        // come while a spill is written; when Matomo answers but slower than the calls, spill only past half.
        _highWater = Math.Max(1, sending.QueueCapacity / 2);
        FailingHighWater = Math.Min(_highWater, Math.Max(sending.BatchSize, sending.QueueCapacity / 10));
    }

    /// <summary>Waiting hits past which, while Matomo fails, they go to disk.</summary>
    public int FailingHighWater { get; }

    private bool Failing => _health?.Failure is not null;

    /// <summary>Starts the spill thread; it ends when <paramref name="end"/> is cancelled (the returned task then completes).</summary>
    public Task Start(CancellationToken end)
    {
        // Its own thread, waiting on the OS rather than on a timer: the calls that fill the queue also fill the thread
        // pool, and a poll queued behind them would come too late to keep the queue from overflowing.
        // It runs at a lower CPU priority (BackgroundPriority): when the calls keep every core busy, they go first and the
        // spilling takes what is left; hits it cannot move in time are dropped at the full queue and counted, as without a
        // spool. A stop's spill runs on the sender's thread, at normal priority.
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                BackgroundPriority.LowerCurrentThread();
                SpillLoop(end);
            }
#pragma warning disable CA1031 // the spill loop must not take the process down; the sender goes on without it
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.SenderFailed(_logger, ex);
            }
            finally
            {
                done.TrySetResult();
            }
        })
        {
            IsBackground = true,
            Name = "Matomo.Rpc spool",
        };
        thread.Start();
        return done.Task;
    }

    /// <summary>One look at the queue: spills what the thresholds say; true when hits were moved.</summary>
    internal bool Poll()
    {
        var waiting = _queue.Waiting;
        var failing = Failing;
        if (failing && (waiting >= FailingHighWater || _stopping()))
        {
            // Matomo fails: what waits goes to disk (at a stop all of it, at once, so the stop waits for nothing).
            if (Interlocked.Exchange(ref _spillLogged, 1) == 0)
            {
                Log.SpoolingWhileFailing(_logger, waiting, _sending.QueueCapacity, _spool.Directory!);
            }

            return Spill(waiting) > 0;
        }

        if (_queue.Count >= _sending.QueueCapacity - _sending.BatchSize && _queue.Count > _highWater)
        {
            // Nearly full while Matomo answers (slower than the calls): the oldest waiting hits make room.
            return Spill(Math.Min(waiting, _queue.Count - _highWater)) > 0;
        }

        if (!failing)
        {
            Volatile.Write(ref _spillLogged, 0);
        }

        return false;
    }

    /// <summary>Takes up to <paramref name="count"/> waiting hits out of the queue into the spool, oldest first.</summary>
    public int Spill(int count)
    {
        if (!_spool.Active || count <= 0)
        {
            return 0;
        }

        // Encoded straight into the spool's records: no string or object per hit on the way to disk.
        var records = new SpoolRecords(Math.Min(count, _queue.Waiting + _sending.BatchSize) * 512);
        var more = true;
        for (var taken = 0; more && taken < count;)
        {
            // The encoder is shared with the sender: taken a batch's worth at a time, so that the sender never waits
            // long on this lower-priority thread.
            lock (_encoding)
            {
                for (var end = Math.Min(count, taken + _sending.BatchSize); taken < end; taken++)
                {
                    if (!_queue.TryRead(out var hit))
                    {
                        more = false;
                        break;
                    }

                    _delivery.PrepareSpooled(hit, records);
                }
            }
        }

        var spilled = records.Count;
        if (_delivery.Keep(records) is { } notKept)
        {
            // The spool turned unusable on the way: these hits are delivered (or dropped at the deadline) as without one.
            _deliverNotKept(notKept);
        }

        return spilled;
    }

    private void SpillLoop(CancellationToken end)
    {
        // Every 50 ms (or the flush interval if shorter); every 5 ms while hits are being moved, as calls keep coming.
        // A poll period in real time (not the TimeProvider's): it reports no time and decides nothing about a hit.
        var idle = _sending.FlushInterval < TimeSpan.FromMilliseconds(50) ? _sending.FlushInterval : TimeSpan.FromMilliseconds(50);
        var busy = TimeSpan.FromMilliseconds(5);
        var spilled = false;
        while (!end.WaitHandle.WaitOne(spilled ? busy : idle))
        {
            spilled = Poll();
        }
    }
}
