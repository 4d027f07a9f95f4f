using System.Diagnostics;
using System.Globalization;

namespace Matomo.Rpc.LoadTest;

/// <summary>The load test's side of the stand-in child process.</summary>
internal sealed class StandInClient : IAsyncDisposable
{
    private readonly Process _process;

    private StandInClient(Process process, string trackerUrl, string countingTrackerUrl)
    {
        _process = process;
        TrackerUrl = trackerUrl;
        CountingTrackerUrl = countingTrackerUrl;
    }

    /// <summary>The Matomo stand-in (validates and stores every hit as Matomo would).</summary>
    public string TrackerUrl { get; }

    /// <summary>The counting bulk endpoint (answers like Matomo, checks and keeps nothing).</summary>
    public string CountingTrackerUrl { get; }

    /// <summary>Bodies the counting endpoint counted with a full JSON pass instead of its search (so far, every slot).</summary>
    public long SlowBodies { get; private set; }

    /// <summary>CPU time the stand-in process used so far.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public static async Task<StandInClient> StartAsync()
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var start = new ProcessStartInfo(self)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };

        // The child stands for a Matomo on another machine, but runs on the load's cores: it is made as cheap as it can
        // be, whatever the mode (modes 1 and 6 do not use it; it idles). The stand-in's thread pool (Kestrel) does not
        // spin waiting for work (a request arrives every few milliseconds, and each wake-up would otherwise spin), and
        // the process collects with the workstation GC, without background GC threads. The load-test process itself is
        // left as an app runs: these settings are not applied to it.
        start.Environment["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0";
        start.Environment["DOTNET_gcServer"] = "0";
        start.Environment["DOTNET_gcConcurrent"] = "0";
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(StandInClient).Assembly.Location);
        }

        start.ArgumentList.Add("--standin");
        var process = Process.Start(start) ?? throw new InvalidOperationException("the stand-in process did not start");
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        if (line is null || !line.StartsWith("ready ", StringComparison.Ordinal))
        {
            process.Kill();
            throw new InvalidOperationException("the stand-in process did not start: " + line);
        }

        var urls = line.Split(' ');
        return new StandInClient(process, urls[1], urls[2]);
    }

    public Task SetLatencyAsync(TimeSpan latency) =>
        SendAsync(string.Create(CultureInfo.InvariantCulture, $"latency {(int)latency.TotalMilliseconds}"));

    public Task StopAsync() => SendAsync("stop");

    public Task RestartAsync() => SendAsync("restart");

    /// <summary>Hits stored and requests received since the last call.</summary>
    public async Task<(long Hits, long Requests)> TakeCountsAsync()
    {
        var parts = (await SendAsync("count")).Split(' ');
        SlowBodies = long.Parse(parts[2], CultureInfo.InvariantCulture);
        return (long.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            _process.Kill();
        }

        _process.Dispose();
    }

    private async Task<string> SendAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        var answer = await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))
            ?? throw new InvalidOperationException("the stand-in process ended");
        return answer.StartsWith("error", StringComparison.Ordinal) ? throw new InvalidOperationException(answer) : answer;
    }
}
