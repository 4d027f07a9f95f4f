using Matomo.Rpc.Internal;

namespace Matomo.Rpc;

/// <summary>
/// Keeps every hit in memory, encoded exactly as it would be sent, instead of sending it: for asserting tracking in
/// your own tests. Enable with <c>AddMatomoTracking(...).UseInMemorySink()</c> and resolve it from the services.
/// </summary>
public sealed class InMemoryMatomoSink
{
    private readonly Lock _gate = new();
    private readonly List<MatomoRecordedHit> _hits = [];
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];

    /// <summary>A snapshot of the hits recorded so far, oldest first.</summary>
    public IReadOnlyList<MatomoRecordedHit> Hits
    {
        get
        {
            lock (_gate)
            {
                return [.. _hits];
            }
        }
    }

    /// <summary>Forgets the hits recorded so far.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _hits.Clear();
        }
    }

    /// <summary>Waits until at least <paramref name="count"/> hits are recorded, then returns them.</summary>
    /// <exception cref="TimeoutException">Fewer hits were recorded within <paramref name="timeout"/>.</exception>
    public async Task<IReadOnlyList<MatomoRecordedHit>> WaitForHitsAsync(int count, TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        TaskCompletionSource done;
        lock (_gate)
        {
            if (_hits.Count >= count)
            {
                return [.. _hits];
            }

            done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, done));
        }

        try
        {
            await done.Task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Expected {count} Matomo hits within {timeout}, got {Hits.Count}.");
        }

        return Hits;
    }

    internal void Add(IReadOnlyList<PendingHit> hits)
    {
        lock (_gate)
        {
            foreach (var hit in hits)
            {
                // A hit replayed from the spool has no MatomoHit left: it was recorded by the run that made it.
                if (hit.Hit is not null)
                {
                    _hits.Add(new MatomoRecordedHit(hit.Hit, hit.Query));
                }
            }

            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_hits.Count >= _waiters[i].Count)
                {
                    _waiters[i].Done.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }
}
