namespace Matomo.Rpc.SignalR.Internal;

/// <summary>
/// A stream passed as an <see cref="IAsyncEnumerable{T}"/>, counting the items enumerated. A hub method's result is
/// sent to the client: its iterator runs with the invocation's per-call API, and its end completes the call
/// (completed: ok; failed: error; cancelled by the client or abandoned: cancelled). A hub method's argument is received
/// from the client.
/// </summary>
internal sealed class CountingAsyncEnumerable<T> : IAsyncEnumerable<T>
{
    private readonly IAsyncEnumerable<T> _inner;
    private readonly InvocationScope _scope;
    private readonly bool _isResult;

    public CountingAsyncEnumerable(IAsyncEnumerable<T> inner, InvocationScope scope, bool isResult)
    {
        _inner = inner;
        _scope = scope;
        _isResult = isResult;
    }

    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        IAsyncEnumerator<T> inner;
        try
        {
            inner = _inner.GetAsyncEnumerator(cancellationToken);
        }
        catch (Exception ex) when (_isResult)
        {
            StreamOutcome.Fail(_scope.Scope, ex, cancellationToken.IsCancellationRequested);
            throw;
        }

        return new Enumerator(inner, _scope, _isResult, cancellationToken);
    }

    private sealed class Enumerator : IAsyncEnumerator<T>
    {
        private readonly IAsyncEnumerator<T> _inner;
        private readonly InvocationScope _scope;
        private readonly bool _isResult;
        private readonly CancellationToken _cancellationToken;

        public Enumerator(IAsyncEnumerator<T> inner, InvocationScope scope, bool isResult, CancellationToken cancellationToken)
        {
            _inner = inner;
            _scope = scope;
            _isResult = isResult;
            _cancellationToken = cancellationToken;
        }

        public T Current => _inner.Current;

        public ValueTask<bool> MoveNextAsync()
        {
            if (!_isResult)
            {
                var next = _inner.MoveNextAsync();
                return next.IsCompletedSuccessfully ? new ValueTask<bool>(OnMoved(next.Result)) : AwaitMoveAsync(next);
            }

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
                StreamOutcome.Fail(_scope.Scope, ex, _cancellationToken.IsCancellationRequested);
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
            if (!_isResult)
            {
                await _inner.DisposeAsync().ConfigureAwait(false);
                return;
            }

            try
            {
                await _inner.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                StreamOutcome.Fail(_scope.Scope, ex, _cancellationToken.IsCancellationRequested);
                throw;
            }
            finally
            {
                // Disposed before its end without an error: the consumer stopped (the client cancelled or went away).
                _scope.Scope.Dispose();
            }
        }

        private async ValueTask<bool> AwaitMoveAsync(ValueTask<bool> pending)
        {
            try
            {
                return OnMoved(await pending.ConfigureAwait(false));
            }
            catch (Exception ex) when (_isResult)
            {
                StreamOutcome.Fail(_scope.Scope, ex, _cancellationToken.IsCancellationRequested);
                throw;
            }
        }

        private bool OnMoved(bool hasItem)
        {
            if (!_isResult)
            {
                if (hasItem)
                {
                    _scope.Scope.CountReceived();
                }
            }
            else if (hasItem)
            {
                _scope.Scope.CountSent();
            }
            else
            {
                _scope.Scope.Complete(MatomoOutcome.Ok);
            }

            return hasItem;
        }
    }
}
