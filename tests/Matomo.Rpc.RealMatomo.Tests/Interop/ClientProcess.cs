using System.Diagnostics;
using System.Text;

namespace Matomo.Rpc.RealMatomo.Tests.Interop;

/// <summary>
/// A running client script of tests/interop (node or python): its stdout lines as they come, its stderr, its exit;
/// killed when disposed.
/// </summary>
public sealed class ClientProcess : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly StringBuilder _stderr = new();
    private readonly System.Threading.Channels.Channel<string> _stdout = System.Threading.Channels.Channel.CreateUnbounded<string>();
    private readonly string _name;

    private ClientProcess(Process process, string name)
    {
        _process = process;
        _name = name;
    }

    /// <summary>tests/interop of the repository (found above the test assembly).</summary>
    public static string Folder { get; } = FindDirectory();

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

    /// <summary>
    /// Starts <paramref name="script"/> of tests/interop with <paramref name="program"/> (in tests/interop);
    /// <paramref name="client"/> names it in the test's output and failures ("node", "python").
    /// </summary>
    public static ClientProcess Start(string client, string program, string script, IEnumerable<string> arguments, IDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Folder,
        };
        info.ArgumentList.Add(Path.Combine(Folder, script));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var process = new Process { StartInfo = info };
        var started = new ClientProcess(process, client);
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

            TestContext.Progress.WriteLine(client + "> " + e.Data);
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

        Assert.Fail($"The {_name} client printed no line starting with '{prefix}' (within {Patience}): {Describe()}");
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
            Assert.Fail($"The {_name} client did not end within {Patience}: {Describe()}");
        }

        Assert.That(_process.ExitCode, Is.EqualTo(0), $"The {_name} client failed: " + Describe());
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
