using System.Security.Cryptography;

namespace Matomo.Rpc.RealMatomo.Tests.Interop;

/// <summary>
/// The Node.js clients of tests/interop: finds node and npm, installs the pinned packages once (<c>npm ci</c> from the
/// lock file, skipped while node_modules matches it), and runs the scripts.
/// </summary>
public static class NodeClients
{
    private const string StampFile = ".interop-lock.sha256";
    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private static string? _installed;

    private static string Folder => ClientProcess.Folder;

    /// <summary>
    /// Makes sure node and npm are there and the packages installed; fails (never skips) with what to do when they are
    /// not: CI has them, and a missing runtime must not pass for a checked client.
    /// </summary>
    public static async Task EnsureInstalledAsync()
    {
        await InstallLock.WaitAsync();
        try
        {
            if (_installed is not null)
            {
                return;
            }

            var node = await VersionAsync("node");
            var npm = await VersionAsync("npm");
            var lockHash = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(Folder, "package-lock.json"))));
            var stamp = Path.Combine(Folder, "node_modules", StampFile);
            if (!File.Exists(stamp) || (await File.ReadAllTextAsync(stamp)).Trim() != lockHash)
            {
                var (exitCode, output) = await RealMatomo.RunAsync(Which("npm")!, ["ci", "--prefix", Folder, "--prefer-offline", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(3), NpmEnvironment(Folder));
                Assert.That(exitCode, Is.EqualTo(0), $"npm ci in {Folder} failed:{Environment.NewLine}{output}");
                await File.WriteAllTextAsync(stamp, lockHash);
            }

            _installed = $"node {node}, npm {npm}";
            TestContext.Progress.WriteLine($"interop clients: {_installed} in {Folder}");
        }
        finally
        {
            InstallLock.Release();
        }
    }

    /// <summary>Starts <paramref name="script"/> (in tests/interop) with node.</summary>
    public static ClientProcess Start(string script, IEnumerable<string> arguments, IDictionary<string, string>? environment = null) =>
        ClientProcess.Start("node", Which("node")!, script, arguments, environment);

    private static async Task<string> VersionAsync(string program)
    {
        var path = Which(program);
        if (path is null)
        {
            Assert.Fail($"The interop tests need '{program}' on PATH (Node.js 18 or later with npm): install Node.js (e.g. apt-get install nodejs npm) and run the tests again. They are not skipped: without it the gRPC and SignalR clients of other languages are not checked.");
        }

        var (exitCode, output) = await RealMatomo.RunAsync(path!, ["--version"], TimeSpan.FromSeconds(60));
        Assert.That(exitCode, Is.EqualTo(0), $"{path} --version failed: {output}");
        return output.Trim();
    }

    private static Dictionary<string, string> NpmEnvironment(string directory) => new()
    {
        // Keep npm's update check and its install scripts' prompts out of a test run.
        ["npm_config_update_notifier"] = "false",
        ["npm_config_yes"] = "false",
        ["INIT_CWD"] = directory,
    };

    private static string? Which(string program)
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
