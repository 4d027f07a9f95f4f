using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Matomo.Rpc.Capacity;

/// <summary>The Matomo kit instance (../shared/matomo) as its env file describes it: API, SQL and queue processing.</summary>
internal sealed class Kit : IDisposable
{
    private readonly HttpClient _api = new() { Timeout = TimeSpan.FromMinutes(2) };
    private readonly string _superUserToken;
    private readonly string _sql;
    private readonly string? _queueProcess;

    private Kit(string url, string trackerUrl, string superUserToken, string sql, bool queued, string? queueProcess)
    {
        Url = url;
        TrackerUrl = trackerUrl;
        _superUserToken = superUserToken;
        _sql = sql;
        Queued = queued;
        _queueProcess = queueProcess;
    }

    public string Url { get; }

    public string TrackerUrl { get; }

    /// <summary>QueuedTracking is on: matomo.php writes to Redis, the queue processor writes to the database.</summary>
    public bool Queued { get; }

    public static Kit FromEnvironment()
    {
        static string Need(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{name} is not set: start the Matomo kit and export its env file (benchmarks/capacity.sh does both)");

        var queued = Environment.GetEnvironmentVariable("MATOMO_QUEUED") == "1";
        return new Kit(
            Need("MATOMO_URL"),
            Need("MATOMO_TRACKER_URL"),
            Need("MATOMO_TOKEN_SUPERUSER"),
            Need("MATOMO_SQL"),
            queued,
            queued ? Need("MATOMO_QUEUE_PROCESS") : null);
    }

    /// <summary>A fresh site, so that the rows of one measurement are told apart from every other by their idsite.</summary>
    public async Task<int> AddSiteAsync(string name)
    {
        using var body = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["module"] = "API",
            ["format"] = "json",
            ["method"] = "SitesManager.addSite",
            ["siteName"] = name,
            ["urls[0]"] = "https://" + name.Replace(' ', '-') + ".capacity.example",
            ["timezone"] = "UTC",
            ["token_auth"] = _superUserToken,
        });
        using var response = await _api.PostAsync(new Uri(Url + "/index.php"), body);
        var text = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(text);
        return json.RootElement.TryGetProperty("value", out var value) && value.TryGetInt32(out var id)
            ? id
            : throw new InvalidOperationException($"SitesManager.addSite answered HTTP {(int)response.StatusCode}: {text[..Math.Min(200, text.Length)]}");
    }

    /// <summary>Rows Matomo stored for the site (one per tracked action).</summary>
    public async Task<long> CountStoredAsync(int site)
    {
        var output = await RunAsync(_sql, $"select count(*) from matomo_log_link_visit_action where idsite = {site.ToString(CultureInfo.InvariantCulture)}", TimeSpan.FromMinutes(2));
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length >= 2 && long.TryParse(lines[1], CultureInfo.InvariantCulture, out var count)
            ? count
            : throw new InvalidOperationException($"unexpected answer of MATOMO_SQL: {output}");
    }

    /// <summary>Runs QueuedTracking's processor until the queue is empty; returns how long it took.</summary>
    public async Task<TimeSpan> ProcessQueueAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        await RunAsync(_queueProcess ?? throw new InvalidOperationException("QueuedTracking is off"), null, timeout);
        return clock.Elapsed;
    }

    public void Dispose() => _api.Dispose();

    private static async Task<string> RunAsync(string file, string? argument, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (argument is not null)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(file)} did not finish within {timeout.TotalSeconds:0} s");
        }

        return process.ExitCode == 0
            ? await stdout
            : throw new InvalidOperationException($"{Path.GetFileName(file)} exited with {process.ExitCode}: {await stderr}");
    }
}
