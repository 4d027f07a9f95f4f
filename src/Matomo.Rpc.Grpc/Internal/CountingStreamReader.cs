using Grpc.Core;

namespace Matomo.Rpc.Grpc.Internal;

/// <summary>Counts the messages a streaming call receives, and notes when the request stream broke.</summary>
internal sealed class CountingStreamReader<T>(IAsyncStreamReader<T> inner, MatomoCallScope scope) : RequestStream, IAsyncStreamReader<T>
{
    public T Current => inner.Current;

    public Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        Task<bool> next;
        try
        {
            next = inner.MoveNext(cancellationToken);
        }
        catch (IOException ex)
        {
            NoteFailedRead(ex);
            throw;
        }

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
        bool moved;
        try
        {
            moved = await next.ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            NoteFailedRead(ex);
            throw;
        }

        if (moved)
        {
            scope.CountReceived();
        }

        return moved;
    }
}
