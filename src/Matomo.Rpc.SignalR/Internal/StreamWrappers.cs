using System.Threading.Channels;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>The <see cref="StreamWrapper"/>s for streams of <typeparamref name="T"/>, created by reflection once per method.</summary>
internal static class StreamWrappers<T>
{
    public static object? ResultChannel(object source, InvocationScope scope) =>
        source is ChannelReader<T> reader ? new TrackedChannelReader<T>(reader, scope.Call) : null;

    public static object? ResultEnumerable(object source, InvocationScope scope) =>
        source is IAsyncEnumerable<T> enumerable ? new TrackedAsyncEnumerable<T>(enumerable, scope) : null;

    public static object? ArgumentChannel(object source, InvocationScope scope) =>
        source is ChannelReader<T> reader ? new CountingChannelReader<T>(reader, scope.Call) : null;

    public static object? ArgumentEnumerable(object source, InvocationScope scope) =>
        source is IAsyncEnumerable<T> enumerable ? new CountingAsyncEnumerable<T>(enumerable, scope.Call) : null;
}
