using System.Diagnostics;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// A child process started from the load-test binary itself with a hidden argument, which answers "ready ..." once up
/// and then one line per command line on its stdin (a line starting with "error" is an error); it ends when its stdin
/// closes. What the stand-in child and the per-mode Greeter children have in common.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _name;
    private readonly TimeSpan _exitWait;

    private ChildProcess(Process process, string name, string ready, TimeSpan exitWait)
    {
        (_process, _name, Ready, _exitWait) = (process, name, ready, exitWait);
    }

    /// <summary>What the child wrote after "ready " (its addresses).</summary>
    public string Ready { get; }

    public int Id => _process.Id;

    /// <summary>CPU time the child used so far (all its threads).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <param name="name">How errors name the child, e.g. "the stand-in process".</param>
    /// <param name="arguments">The hidden argument and its values.</param>
    /// <param name="environment">Variables set for the child only.</param>
    /// <param name="exitWait">How long disposing waits for the child to end before killing it.</param>
    public static async Task<ChildProcess> StartAsync(string name, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, TimeSpan exitWait)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var start = new ProcessStartInfo(self)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        // Run through `dotnet`: the load test's assembly comes first.
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException(name + " did not start");
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        if (line is null || !line.StartsWith("ready ", StringComparison.Ordinal))
        {
            process.Kill();
            throw new InvalidOperationException($"{name} did not start: {line}");
        }

        return new ChildProcess(process, name, line["ready ".Length..], exitWait);
    }

    /// <summary>Sends one command line and returns the child's one-line answer.</summary>
    public async Task<string> SendAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        var answer = await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))
            ?? throw new InvalidOperationException(_name + " ended");
        return answer.StartsWith("error", StringComparison.Ordinal) ? throw new InvalidOperationException(answer) : answer;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            await _process.WaitForExitAsync().WaitAsync(_exitWait);
        }
        catch (TimeoutException)
        {
            _process.Kill();
        }

        _process.Dispose();
    }
}
