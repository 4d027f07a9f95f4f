using System.Collections.Concurrent;

namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>Named gates the endpoints wait at (one per request key the test passes).</summary>
public sealed class TestGates
{
    private readonly ConcurrentDictionary<string, TestGate> _gates = new(StringComparer.Ordinal);

    public TestGate this[string key] => _gates.GetOrAdd(key, _ => new TestGate());
}
