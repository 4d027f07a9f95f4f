namespace Matomo.Rpc.RealMatomo.Tests.Interop;

/// <summary>
/// The gRPC scenarios of <see cref="GrpcInteropTests"/> with Python grpcio, i.e. gRPC C-core (Debian's python3-grpcio,
/// tests/interop/grpc-client.py run by /usr/bin/python3): another HTTP/2 and gRPC implementation than grpc-js, with
/// its own cancellation and deadline handling.
/// </summary>
public class GrpcPythonInteropTests : GrpcInteropTests
{
    /// <summary>grpcio's user agent (grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)): an unknown browser on a GNU/Linux desktop.</summary>
    protected override (string Browser, string Device, string System) ExpectedDevice => ("UNK", "Desktop", "LIN");

    protected override Task EnsureClientInstalledAsync() => PythonClients.EnsureInstalledAsync();

    protected override ClientProcess StartClient(IEnumerable<string> arguments, IDictionary<string, string>? environment = null) =>
        PythonClients.Start("grpc-client.py", arguments, environment);
}
