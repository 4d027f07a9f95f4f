namespace Matomo.Rpc.RealMatomo.Tests.Interop;

/// <summary>
/// The Python clients of tests/interop, run with the system's <c>/usr/bin/python3</c> and Debian's <c>python3-grpcio</c>
/// (gRPC C-core; .ci/run installs it), never a pyenv or virtualenv interpreter found on PATH.
/// </summary>
public static class PythonClients
{
    public const string Python = "/usr/bin/python3";

    private const string Package = "python3-grpcio";
    private static readonly SemaphoreSlim CheckLock = new(1, 1);
    private static string? _version;

    /// <summary>A user's own packages (pip install --user) must not stand in for the Debian package.</summary>
    private static readonly Dictionary<string, string> PythonEnvironment = new() { ["PYTHONNOUSERSITE"] = "1", ["PYTHONDONTWRITEBYTECODE"] = "1" };

    /// <summary>
    /// Makes sure <c>/usr/bin/python3</c> imports grpc; fails (never skips) naming the package to install when it does
    /// not: CI installs it, and a missing runtime must not pass for a checked client.
    /// </summary>
    public static async Task EnsureInstalledAsync()
    {
        await CheckLock.WaitAsync();
        try
        {
            if (_version is not null)
            {
                return;
            }

            var (exitCode, output) = File.Exists(Python)
                ? await RealMatomo.RunAsync(Python, ["-c", "import sys, grpc; print('python', sys.version.split()[0], 'grpcio', grpc.__version__)"], TimeSpan.FromSeconds(60), PythonEnvironment)
                : (-1, Python + " does not exist");
            if (exitCode != 0)
            {
                Assert.Fail($"The Python interop tests need gRPC for {Python}, Debian's package {Package} (gRPC C-core): install it (sudo apt-get install {Package}; .ci/run does) and run the tests again. They are not skipped: without it the C-core client is not checked.{Environment.NewLine}{Python} said: {output.Trim()}");
            }

            _version = output.Trim();
            TestContext.Progress.WriteLine($"interop clients: {_version} ({Python}) in {ClientProcess.Folder}");
        }
        finally
        {
            CheckLock.Release();
        }
    }

    /// <summary>Starts <paramref name="script"/> (in tests/interop) with /usr/bin/python3.</summary>
    public static ClientProcess Start(string script, IEnumerable<string> arguments, IDictionary<string, string>? environment = null) =>
        ClientProcess.Start("python", Python, script, arguments, new Dictionary<string, string>(PythonEnvironment.Concat(environment ?? new Dictionary<string, string>())));
}
