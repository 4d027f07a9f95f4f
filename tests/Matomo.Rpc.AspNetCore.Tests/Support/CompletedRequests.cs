using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>
/// Records each request when the server has completed it. Its middleware runs first and registers its
/// <c>OnCompleted</c> callback before the tracking middleware does, and the server runs those callbacks last registered
/// first: when a request shows up here, the tracking has already queued its hit (or decided not to).
/// </summary>
public sealed class CompletedRequests
{
    private readonly ConcurrentQueue<string> _paths = new();
    private readonly Lock _gate = new();
    private readonly List<(Func<IReadOnlyCollection<string>, bool> Condition, TaskCompletionSource Done)> _waiters = [];

    public IReadOnlyCollection<string> Paths => _paths;

    public void Add(HttpContext context)
    {
        context.Response.OnCompleted(() =>
        {
            _paths.Enqueue(context.Request.Path.Value ?? string.Empty);
            lock (_gate)
            {
                foreach (var waiter in _waiters.Where(w => w.Condition(_paths)).ToList())
                {
                    waiter.Done.TrySetResult();
                    _waiters.Remove(waiter);
                }
            }

            return Task.CompletedTask;
        });
    }

    /// <summary>Completes once a request for <paramref name="path"/> has completed.</summary>
    public Task WaitForAsync(string path, TimeSpan timeout)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<IReadOnlyCollection<string>, bool> condition = paths => paths.Contains(path, StringComparer.Ordinal);
        lock (_gate)
        {
            if (condition(_paths))
            {
                return Task.CompletedTask;
            }

            _waiters.Add((condition, done));
        }

        return done.Task.WaitAsync(timeout);
    }
}
