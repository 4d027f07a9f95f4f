namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>Lets a test know when an endpoint has reached a point (<see cref="Reached"/>), and let it go on (<see cref="Release"/>).</summary>
public sealed class TestGate
{
    private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Reached => _reached.Task;

    public void Arrive() => _reached.TrySetResult();

    public Task WaitReleasedAsync(CancellationToken cancellationToken) => _released.Task.WaitAsync(cancellationToken);

    public void Release() => _released.TrySetResult();
}
