namespace Matomo.Rpc.RealMatomo.Tests.Interop;

/// <summary>The gRPC scenarios of <see cref="GrpcInteropTests"/> with Node.js, @grpc/grpc-js (tests/interop/grpc-client.js).</summary>
public class GrpcNodeInteropTests : GrpcInteropTests
{
    /// <summary>grpc-js's user agent (grpc-node-js/1.14.7): an unknown browser on an unknown device and system.</summary>
    protected override (string Browser, string Device, string System) ExpectedDevice => ("UNK", "Unknown", "UNK");

    protected override Task EnsureClientInstalledAsync() => NodeClients.EnsureInstalledAsync();

    protected override ClientProcess StartClient(IEnumerable<string> arguments, IDictionary<string, string>? environment = null) =>
        NodeClients.Start("grpc-client.js", arguments, environment);
}
