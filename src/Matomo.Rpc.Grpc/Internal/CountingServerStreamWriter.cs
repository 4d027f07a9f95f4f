using Grpc.Core;

namespace Matomo.Rpc.Grpc.Internal;

/// <summary>
/// Counts the messages a streaming call sends. <see cref="WriteOptions"/> is passed through to the inner writer
/// untouched (JSON transcoding's writer throws on it, so it is only ever read or set when service code does).
/// </summary>
internal sealed class CountingServerStreamWriter<T>(IServerStreamWriter<T> inner, MatomoCallScope scope) : IServerStreamWriter<T>
{
    public WriteOptions? WriteOptions
    {
        get => inner.WriteOptions;
        set => inner.WriteOptions = value;
    }

    public Task WriteAsync(T message) => Counted(inner.WriteAsync(message));

    public Task WriteAsync(T message, CancellationToken cancellationToken) => Counted(inner.WriteAsync(message, cancellationToken));

    private Task Counted(Task write)
    {
        if (write.IsCompletedSuccessfully)
        {
            scope.CountSent();
            return write;
        }

        return CountedAsync(write);
    }

    private async Task CountedAsync(Task write)
    {
        await write.ConfigureAwait(false);
        scope.CountSent();
    }
}
