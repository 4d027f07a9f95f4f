using System.Collections.Concurrent;

namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>Tells tests when the hub has seen a connection close (its OnDisconnectedAsync ran).</summary>
public sealed class ConnectionLog
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _disconnected = new();

    public void Disconnected(string connectionId) => Get(connectionId).TrySetResult();

    public Task WaitForDisconnectAsync(string connectionId) => Get(connectionId).Task;

    private TaskCompletionSource Get(string connectionId) =>
        _disconnected.GetOrAdd(connectionId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
