using Grpc.Core;

namespace Matomo.Rpc.Grpc.Tests.Support;

/// <summary>A request stream over a fixed list of messages.</summary>
public sealed class ListStreamReader<T>(params T[] messages) : IAsyncStreamReader<T>
{
    private int _index = -1;

    public T Current => messages[_index];

    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        await Task.Yield();
        cancellationToken.ThrowIfCancellationRequested();
        return ++_index < messages.Length;
    }
}

/// <summary>A response stream that keeps what is written and counts every access to its WriteOptions.</summary>
public sealed class ListStreamWriter<T> : IServerStreamWriter<T>
{
    private WriteOptions? _writeOptions;

    public List<T> Written { get; } = [];

    public List<CancellationToken> Tokens { get; } = [];

    public int WriteOptionsGets { get; private set; }

    public int WriteOptionsSets { get; private set; }

    public WriteOptions? WriteOptions
    {
        get
        {
            WriteOptionsGets++;
            return _writeOptions;
        }

        set
        {
            WriteOptionsSets++;
            _writeOptions = value;
        }
    }

    public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

    public async Task WriteAsync(T message, CancellationToken cancellationToken)
    {
        await Task.Yield();
        Written.Add(message);
        Tokens.Add(cancellationToken);
    }
}
