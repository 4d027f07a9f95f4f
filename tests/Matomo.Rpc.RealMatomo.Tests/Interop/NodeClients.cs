using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

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

    /// <summary>tests/interop of the repository (found above the test assembly).</summary>
    public static string Folder { get; } = FindDirectory();

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
    public static NodeProcess Start(string script, IEnumerable<string> arguments, IDictionary<string, string>? environment = null) =>
        NodeProcess.Start(Which("node")!, Path.Combine(Folder, script), arguments, environment);

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

    private static string FindDirectory()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            var candidate = Path.Combine(folder.FullName, "tests", "interop");
            if (File.Exists(Path.Combine(candidate, "package.json")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("tests/interop/package.json not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A running node script: its stdout lines as they come, its stderr, its exit; killed when disposed.</summary>
public sealed class NodeProcess : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly StringBuilder _stderr = new();
    private readonly System.Threading.Channels.Channel<string> _stdout = System.Threading.Channels.Channel.CreateUnbounded<string>();

    private NodeProcess(Process process) => _process = process;

    /// <summary>Every stdout line so far.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static NodeProcess Start(string node, string script, IEnumerable<string> arguments, IDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(script)!,
        };
        info.ArgumentList.Add(script);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var process = new Process { StartInfo = info };
        var started = new NodeProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                started._stdout.Writer.TryComplete();
                return;
            }

            lock (started._lines)
            {
                started._lines.Add(e.Data);
            }

            TestContext.Progress.WriteLine("node> " + e.Data);
            started._stdout.Writer.TryWrite(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (started._stderr)
                {
                    started._stderr.AppendLine(e.Data);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return started;
    }

    /// <summary>Waits for the first stdout line starting with <paramref name="prefix"/>; fails when the script ends first.</summary>
    public async Task<string> WaitForLineAsync(string prefix)
    {
        using var cts = new CancellationTokenSource(Patience);
        try
        {
            await foreach (var line in _stdout.Reader.ReadAllAsync(cts.Token))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        Assert.Fail($"The node client printed no line starting with '{prefix}' (within {Patience}): {Describe()}");
        return string.Empty;
    }

    /// <summary>Writes one line to the script's stdin.</summary>
    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits for the script to end and fails, with its output, unless it exits with 0.</summary>
    public async Task SucceedsAsync()
    {
        using var cts = new CancellationTokenSource(Patience);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"The node client did not end within {Patience}: {Describe()}");
        }

        Assert.That(_process.ExitCode, Is.EqualTo(0), "The node client failed: " + Describe());
    }

    /// <summary>Ends the client at once (SIGKILL): no close frame, no goodbye, as a crashed or unplugged client.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(Patience);
    }

    public string Describe() => $"{Environment.NewLine}stdout:{Environment.NewLine}{string.Join(Environment.NewLine, Lines)}{Environment.NewLine}stderr:{Environment.NewLine}{Stderr}";

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }
}
