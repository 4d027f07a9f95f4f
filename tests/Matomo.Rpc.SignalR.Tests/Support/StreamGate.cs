namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>Holds a server stream open until the test lets it finish.</summary>
public sealed class StreamGate
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task WaitAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _open.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        }
    }

    public void Open()
    {
        lock (_lock)
        {
            _open.TrySetResult();
        }
    }

    public void Reset()
    {
        lock (_lock)
        {
            _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
