using System.Collections.Concurrent;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>The exceptions the per-call API threw at <see cref="ServiceCodeInterceptor"/> (which, like a service, catches them).</summary>
public sealed class ServiceCodeRefusals
{
    private readonly ConcurrentQueue<Exception> _exceptions = new();

    public IReadOnlyList<Exception> Exceptions => [.. _exceptions];

    public void Add(Exception exception) => _exceptions.Enqueue(exception);
}
