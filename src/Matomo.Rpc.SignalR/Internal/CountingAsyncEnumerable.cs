namespace Matomo.Rpc.SignalR.Internal;

/// <summary>A client-to-server stream passed to a hub method as an <see cref="IAsyncEnumerable{T}"/>: counts the items the method reads.</summary>
internal sealed class CountingAsyncEnumerable<T> : IAsyncEnumerable<T>
{
    private readonly IAsyncEnumerable<T> _inner;
    private readonly MatomoCall _call;

    public CountingAsyncEnumerable(IAsyncEnumerable<T> inner, MatomoCall call)
    {
        _inner = inner;
        _call = call;
    }

    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        new Enumerator(_inner.GetAsyncEnumerator(cancellationToken), _call);

    private sealed class Enumerator : IAsyncEnumerator<T>
    {
        private readonly IAsyncEnumerator<T> _inner;
        private readonly MatomoCall _call;

        public Enumerator(IAsyncEnumerator<T> inner, MatomoCall call)
        {
            _inner = inner;
            _call = call;
        }

        public T Current => _inner.Current;

        public ValueTask<bool> MoveNextAsync()
        {
            var pending = _inner.MoveNextAsync();
            return pending.IsCompletedSuccessfully ? new ValueTask<bool>(Count(pending.Result)) : AwaitMoveAsync(pending);
        }

        public ValueTask DisposeAsync() => _inner.DisposeAsync();

        private async ValueTask<bool> AwaitMoveAsync(ValueTask<bool> pending) => Count(await pending.ConfigureAwait(false));

        private bool Count(bool hasItem)
        {
            if (hasItem)
            {
                _call.CountReceived();
            }

            return hasItem;
        }
    }
}
