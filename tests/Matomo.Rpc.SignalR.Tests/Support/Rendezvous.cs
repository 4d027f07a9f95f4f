namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>Holds concurrent invocations until two of them are in flight at once.</summary>
public sealed class Rendezvous
{
    private readonly Lock _gate = new();
    private int _arrived;
    private TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task ArriveAsync()
    {
        lock (_gate)
        {
            if (++_arrived == 2)
            {
                _all.TrySetResult();
            }

            return _all.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    public void Reset()
    {
        lock (_gate)
        {
            _arrived = 0;
            _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
