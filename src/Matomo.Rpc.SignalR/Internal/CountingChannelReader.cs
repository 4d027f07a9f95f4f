using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>
/// A stream passed as a <see cref="ChannelReader{T}"/>, counting the items read. A hub method's result is sent to the
/// client, and its end completes the call (completed: ok; completed with an error: error; reading cancelled:
/// cancelled). A hub method's argument is received from the client; its end is the method's business.
/// </summary>
internal sealed class CountingChannelReader<T> : ChannelReader<T>
{
    private readonly ChannelReader<T> _inner;
    private readonly MatomoCallScope _scope;
    private readonly bool _isResult;

    public CountingChannelReader(ChannelReader<T> inner, MatomoCallScope scope, bool isResult)
    {
        _inner = inner;
        _scope = scope;
        _isResult = isResult;
    }

    public override Task Completion => _inner.Completion;

    public override bool CanCount => _inner.CanCount;

    public override int Count => _inner.Count;

    public override bool CanPeek => _inner.CanPeek;

    public override bool TryPeek([MaybeNullWhen(false)] out T item) => _inner.TryPeek(out item);

    public override bool TryRead([MaybeNullWhen(false)] out T item)
    {
        if (_inner.TryRead(out item))
        {
            CountItem();
            return true;
        }

        return false;
    }

    public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default)
    {
        if (!_isResult)
        {
            return _inner.WaitToReadAsync(cancellationToken);
        }

        ValueTask<bool> pending;
        try
        {
            pending = _inner.WaitToReadAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            StreamOutcome.Fail(_scope, ex, cancellationToken.IsCancellationRequested);
            throw;
        }

        return pending.IsCompletedSuccessfully ? new ValueTask<bool>(OnWaited(pending.Result)) : AwaitWaitAsync(pending, cancellationToken);
    }

    public override async ValueTask<T> ReadAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var item = await _inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            CountItem();
            return item;
        }
        catch (ChannelClosedException ex) when (_isResult && ex.InnerException is null)
        {
            _scope.Complete(MatomoOutcome.Ok);
            throw;
        }
        catch (Exception ex) when (_isResult)
        {
            StreamOutcome.Fail(_scope, ex, cancellationToken.IsCancellationRequested);
            throw;
        }
    }

    private void CountItem()
    {
        if (_isResult)
        {
            _scope.CountSent();
        }
        else
        {
            _scope.CountReceived();
        }
    }

    private async ValueTask<bool> AwaitWaitAsync(ValueTask<bool> pending, CancellationToken cancellationToken)
    {
        try
        {
            return OnWaited(await pending.ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            StreamOutcome.Fail(_scope, ex, cancellationToken.IsCancellationRequested);
            throw;
        }
    }

    private bool OnWaited(bool canRead)
    {
        if (!canRead)
        {
            // No more items: the writer completed the channel (an error would have been thrown instead).
            var completion = _inner.Completion;
            if (completion.IsFaulted && completion.Exception?.InnerException is { } error)
            {
                StreamOutcome.Fail(_scope, error, cancellationRequested: false);
            }
            else
            {
                _scope.Complete(completion.IsCanceled ? MatomoOutcome.Cancelled : MatomoOutcome.Ok);
            }
        }

        return canRead;
    }
}
