namespace Matomo.Rpc.SignalR.Internal;

/// <summary>
/// A server-to-client stream returned by a hub method: counts the items sent and completes the call when the stream
/// ends (completed: ok; failed: error; cancelled by the client or abandoned: cancelled).
/// </summary>
internal sealed class TrackedAsyncEnumerable<T> : IAsyncEnumerable<T>
{
    private readonly IAsyncEnumerable<T> _inner;
    private readonly InvocationScope _scope;

    public TrackedAsyncEnumerable(IAsyncEnumerable<T> inner, InvocationScope scope)
    {
        _inner = inner;
        _scope = scope;
    }

    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        IAsyncEnumerator<T> inner;
        try
        {
            inner = _inner.GetAsyncEnumerator(cancellationToken);
        }
        catch (Exception ex)
        {
            StreamOutcome.Fail(_scope.Call, ex, cancellationToken.IsCancellationRequested);
            throw;
        }

        return new Enumerator(inner, _scope, cancellationToken);
    }

    private sealed class Enumerator : IAsyncEnumerator<T>
    {
        private readonly IAsyncEnumerator<T> _inner;
        private readonly InvocationScope _scope;
        private readonly CancellationToken _cancellationToken;

        public Enumerator(IAsyncEnumerator<T> inner, InvocationScope scope, CancellationToken cancellationToken)
        {
            _inner = inner;
            _scope = scope;
            _cancellationToken = cancellationToken;
        }

        public T Current => _inner.Current;

        public ValueTask<bool> MoveNextAsync()
        {
            // The iterator's body runs here, after the filter returned: make the per-invocation API see this call.
            var previous = InvocationScope.Current;
            var swap = !ReferenceEquals(previous, _scope);
            if (swap)
            {
                InvocationScope.Current = _scope;
            }

            ValueTask<bool> pending;
            try
            {
                pending = _inner.MoveNextAsync();
            }
            catch (Exception ex)
            {
                StreamOutcome.Fail(_scope.Call, ex, _cancellationToken.IsCancellationRequested);
                throw;
            }
            finally
            {
                if (swap)
                {
                    InvocationScope.Current = previous;
                }
            }

            return pending.IsCompletedSuccessfully ? new ValueTask<bool>(OnMoved(pending.Result)) : AwaitMoveAsync(pending);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await _inner.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                StreamOutcome.Fail(_scope.Call, ex, _cancellationToken.IsCancellationRequested);
                throw;
            }
            finally
            {
                // Disposed before its end without an error: the consumer stopped (the client cancelled or went away).
                _scope.Call.Complete(MatomoOutcome.Cancelled);
            }
        }

        private async ValueTask<bool> AwaitMoveAsync(ValueTask<bool> pending)
        {
            try
            {
                return OnMoved(await pending.ConfigureAwait(false));
            }
            catch (Exception ex)
            {
                StreamOutcome.Fail(_scope.Call, ex, _cancellationToken.IsCancellationRequested);
                throw;
            }
        }

        private bool OnMoved(bool hasItem)
        {
            if (hasItem)
            {
                _scope.Call.CountSent();
            }
            else
            {
                _scope.Call.Complete(MatomoOutcome.Ok);
            }

            return hasItem;
        }
    }
}
