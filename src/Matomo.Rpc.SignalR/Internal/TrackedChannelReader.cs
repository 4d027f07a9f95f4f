using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>
/// A server-to-client stream returned by a hub method as a <see cref="ChannelReader{T}"/>: counts the items read and
/// completes the call when the channel ends (completed: ok; completed with an error: error; reading cancelled: cancelled).
/// </summary>
internal sealed class TrackedChannelReader<T> : ChannelReader<T>
{
    private readonly ChannelReader<T> _inner;
    private readonly MatomoCall _call;

    public TrackedChannelReader(ChannelReader<T> inner, MatomoCall call)
    {
        _inner = inner;
        _call = call;
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
            _call.CountSent();
            return true;
        }

        return false;
    }

    public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default)
    {
        ValueTask<bool> pending;
        try
        {
            pending = _inner.WaitToReadAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            StreamOutcome.Fail(_call, ex, cancellationToken.IsCancellationRequested);
            throw;
        }

        return pending.IsCompletedSuccessfully ? new ValueTask<bool>(OnWaited(pending.Result)) : AwaitWaitAsync(pending, cancellationToken);
    }

    public override async ValueTask<T> ReadAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var item = await _inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            _call.CountSent();
            return item;
        }
        catch (ChannelClosedException ex) when (ex.InnerException is null)
        {
            _call.Complete(MatomoOutcome.Ok);
            throw;
        }
        catch (Exception ex)
        {
            StreamOutcome.Fail(_call, ex, cancellationToken.IsCancellationRequested);
            throw;
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
            StreamOutcome.Fail(_call, ex, cancellationToken.IsCancellationRequested);
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
                StreamOutcome.Fail(_call, error, cancellationRequested: false);
            }
            else
            {
                _call.Complete(completion.IsCanceled ? MatomoOutcome.Cancelled : MatomoOutcome.Ok);
            }
        }

        return canRead;
    }
}
