using System.Threading.Channels;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>
/// Wraps the streams of <typeparamref name="T"/> a hub method returns or takes, so that they are counted (and a returned
/// stream completes the call when it ends). Each returns null when the source is not of the expected type (it is then
/// left as is). Made into delegates by reflection once per method (<see cref="MethodShape"/>).
/// </summary>
internal static class StreamWrappers<T>
{
    public static object? ResultChannel(object source, InvocationScope scope) =>
        source is ChannelReader<T> reader ? new CountingChannelReader<T>(reader, scope.Scope, isResult: true) : null;

    public static object? ResultEnumerable(object source, InvocationScope scope) =>
        source is IAsyncEnumerable<T> enumerable ? new CountingAsyncEnumerable<T>(enumerable, scope, isResult: true) : null;

    public static object? ArgumentChannel(object source, InvocationScope scope) =>
        source is ChannelReader<T> reader ? new CountingChannelReader<T>(reader, scope.Scope, isResult: false) : null;

    public static object? ArgumentEnumerable(object source, InvocationScope scope) =>
        source is IAsyncEnumerable<T> enumerable ? new CountingAsyncEnumerable<T>(enumerable, scope, isResult: false) : null;
}
