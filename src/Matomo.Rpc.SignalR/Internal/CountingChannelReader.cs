using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>A client-to-server stream passed to a hub method as a <see cref="ChannelReader{T}"/>: counts the items the method reads.</summary>
internal sealed class CountingChannelReader<T> : ChannelReader<T>
{
    private readonly ChannelReader<T> _inner;
    private readonly MatomoCall _call;

    public CountingChannelReader(ChannelReader<T> inner, MatomoCall call)
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
            _call.CountReceived();
            return true;
        }

        return false;
    }

    public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => _inner.WaitToReadAsync(cancellationToken);

    public override async ValueTask<T> ReadAsync(CancellationToken cancellationToken = default)
    {
        var item = await _inner.ReadAsync(cancellationToken).ConfigureAwait(false);
        _call.CountReceived();
        return item;
    }
}
