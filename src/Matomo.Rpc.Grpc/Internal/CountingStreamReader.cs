using Grpc.Core;

namespace Matomo.Rpc.Grpc.Internal;

/// <summary>Counts the messages a streaming call receives.</summary>
internal sealed class CountingStreamReader<T>(IAsyncStreamReader<T> inner, MatomoCallScope scope) : IAsyncStreamReader<T>
{
    public T Current => inner.Current;

    public Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        var next = inner.MoveNext(cancellationToken);
        if (next.IsCompletedSuccessfully)
        {
            if (next.Result)
            {
                scope.CountReceived();
            }

            return next;
        }

        return Counted(next);
    }

    private async Task<bool> Counted(Task<bool> next)
    {
        var moved = await next.ConfigureAwait(false);
        if (moved)
        {
            scope.CountReceived();
        }

        return moved;
    }
}
