namespace Matomo.Rpc.SignalR.Internal;

/// <summary>
/// Wraps a stream (a hub method's result or argument) so that it is counted, and for results, completes the call when
/// it ends. Returns null when <paramref name="source"/> is not of the expected type (it is then left as is).
/// </summary>
internal delegate object? StreamWrapper(object source, InvocationScope scope);
