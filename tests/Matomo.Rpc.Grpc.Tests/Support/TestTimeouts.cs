namespace Matomo.Rpc.Grpc.Tests.Support;

public static class TestTimeouts
{
    /// <summary>Bounds every await of a test: generous, only hit when something hangs.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(15);
}
