using System.Globalization;

namespace Matomo.Rpc.LoadTest;

/// <summary>The load test's side of the stand-in child process.</summary>
internal sealed class StandInClient : IAsyncDisposable
{
    private readonly ChildProcess _child;

    private StandInClient(ChildProcess child, string trackerUrl, string countingTrackerUrl)
    {
        _child = child;
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
    public TimeSpan CpuTime => _child.CpuTime;

    public static async Task<StandInClient> StartAsync()
    {
        // The child stands for a Matomo on another machine, but runs on the load's cores: it is made as cheap as it can
        // be, whatever the mode (modes 1 and 6 do not use it; it idles). The stand-in's thread pool (Kestrel) does not
        // spin waiting for work (a request arrives every few milliseconds, and each wake-up would otherwise spin), and
        // the process collects with the workstation GC, without background GC threads. The load-test process itself is
        // left as an app runs: these settings are not applied to it.
        var child = await ChildProcess.StartAsync(
            "the stand-in process",
            ["--standin"],
            new Dictionary<string, string>
            {
                ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0",
                ["DOTNET_gcServer"] = "0",
                ["DOTNET_gcConcurrent"] = "0",
            },
            TimeSpan.FromSeconds(10));
        var urls = child.Ready.Split(' ');
        return new StandInClient(child, urls[0], urls[1]);
    }

    public Task SetLatencyAsync(TimeSpan latency) =>
        _child.SendAsync(string.Create(CultureInfo.InvariantCulture, $"latency {(int)latency.TotalMilliseconds}"));

    public Task StopAsync() => _child.SendAsync("stop");

    public Task RestartAsync() => _child.SendAsync("restart");

    /// <summary>Hits stored and requests received since the last call.</summary>
    public async Task<(long Hits, long Requests)> TakeCountsAsync()
    {
        var parts = (await _child.SendAsync("count")).Split(' ');
        SlowBodies = long.Parse(parts[2], CultureInfo.InvariantCulture);
        return (long.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    public ValueTask DisposeAsync() => _child.DisposeAsync();
}
