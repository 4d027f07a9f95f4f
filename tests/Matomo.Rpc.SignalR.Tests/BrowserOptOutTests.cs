using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Matomo.Rpc.SignalR.Tests.Support;
using Matomo.Rpc.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace Matomo.Rpc.SignalR.Tests;

/// <summary>
/// The JavaScript client in a real browser (headless Chromium, driven by Browser/drive.js with playwright-core) with the
/// Do Not Track preference on and off. DNT is a header scripts cannot set, so only the browser's preference sends it.
/// What Chromium sends decides what these tests pin: <c>DNT: 1</c> on the page, negotiate, Server-Sent Events and
/// long-polling requests, but not on the WebSocket's opening request (the gap the README's Privacy section documents).
/// Browser/setup.sh installs Chromium (apt-get) and the npm packages (npm ci) on a fresh machine.
/// </summary>
[NonParallelizable]
public sealed class BrowserOptOutTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan BrowserTimeout = TimeSpan.FromSeconds(90);
    private const string ControlTag = "http://control.test/browser";

    private string _browserDir = null!;
    private MatomoStandIn _matomo = null!;
    private SignalRTestHost _host = null!;
    private readonly ConcurrentQueue<string> _seen = new();

    [OneTimeSetUp]
    public void InstallBrowser()
    {
        _browserDir = FindBrowserDir();
        var setup = Run("sh", [Path.Combine(_browserDir, "setup.sh")], _browserDir, TimeSpan.FromMinutes(5));
        if (setup.ExitCode != 0)
        {
            Assert.Ignore($"Browser/setup.sh could not install Chromium and the npm packages (exit {setup.ExitCode}):\n{setup.Output}");
        }
    }

    [SetUp]
    public async Task StartAsync()
    {
        _seen.Clear();
        _matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        _host = await SignalRTestHost.StartAsync(_matomo, configureApp: app =>
        {
            // What the server sees of each hub request, for the test log: which requests carry DNT.
            app.Use((context, next) =>
            {
                if (context.Request.Path.StartsWithSegments(SignalRTestHost.ChatPath, StringComparison.Ordinal))
                {
                    var kind = string.Equals(context.Request.Headers.Upgrade, "websocket", StringComparison.OrdinalIgnoreCase) ? "websocket" : context.Request.Headers.Accept.ToString();
                    _seen.Enqueue($"{context.Request.Method} {context.Request.Path} [{kind}] DNT={context.Request.Headers["DNT"]} Sec-GPC={context.Request.Headers["Sec-GPC"]}");
                }

                return next(context);
            });
            app.MapGet("/browser/signalr.js", () => Results.File(
                Path.Combine(_browserDir, "node_modules", "@microsoft", "signalr", "dist", "browser", "signalr.js"), "text/javascript"));
            app.MapGet("/browser/index.html", () => Results.File(Path.Combine(_browserDir, "index.html"), "text/html"));
        }).WaitAsync(Timeout);
    }

    [TearDown]
    public async Task StopAsync()
    {
        foreach (var line in _seen)
        {
            TestContext.Out.WriteLine(line);
        }

        await _host.DisposeAsync().AsTask().WaitAsync(Timeout);
        await _matomo.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [TestCase(HttpTransportType.ServerSentEvents)]
    [TestCase(HttpTransportType.LongPolling)]
    public async Task BrowserInvoke_DoNotTrackOn_NoHitCounted(HttpTransportType transport)
    {
        var page = await OpenPageAsync(transport, doNotTrack: true);
        await _host.Connections.WaitForDisconnectAsync(page.ConnectionId!).WaitAsync(Timeout);

        // Hits are queued in order: once the control's later call is stored, any hit of the browser's would be too.
        await InvokeControlAsync();
        Assert.That(_seen, Has.Some.Contain("DNT=1"), "the browser sent DNT: 1");
        Assert.That(_matomo.Hits.Where(h => h.Parameters.GetValueOrDefault("urlref") != ControlTag), Is.Empty);
        Assert.That(_host.Tracker.Statistics.OptedOut, Is.EqualTo(3), "connect, the invocation, disconnect");
    }

    [Test]
    public async Task BrowserInvoke_WebSocketsDoNotTrackOn_TrackedBecauseBrowserSendsNoDntOnWebSocketRequest()
    {
        var page = await OpenPageAsync(HttpTransportType.WebSockets, doNotTrack: true);
        await _host.Connections.WaitForDisconnectAsync(page.ConnectionId!).WaitAsync(Timeout);

        Assert.That(_seen, Has.Some.Contain("[websocket] DNT= "), "the WebSocket's opening request carries no DNT");
        Assert.That(_seen, Has.Some.Matches<string>(l => l.Contains("/negotiate", StringComparison.Ordinal) && l.Contains("DNT=1", StringComparison.Ordinal)), "the negotiate request does");
        var hit = await WaitForBrowserHitAsync();
        Assert.That(hit.CustomVariable("transport"), Is.EqualTo("WebSockets"));
        Assert.That(_host.Tracker.Statistics.OptedOut, Is.Zero);
    }

    [TestCase(HttpTransportType.WebSockets)]
    [TestCase(HttpTransportType.ServerSentEvents)]
    [TestCase(HttpTransportType.LongPolling)]
    public async Task BrowserInvoke_DoNotTrackOff_Tracked(HttpTransportType transport)
    {
        await OpenPageAsync(transport, doNotTrack: false);

        var hit = await WaitForBrowserHitAsync();
        Assert.That(hit.CustomVariable("transport"), Is.EqualTo(transport.ToString()));
        Assert.That(_seen, Has.None.Contain("DNT=1"));
        Assert.That(_host.Tracker.Statistics.OptedOut, Is.Zero);
    }

    private async Task<StoredHit> WaitForBrowserHitAsync()
    {
        var hits = await _matomo.WaitForHitsAsync(
            hits => hits.Any(h => h.Parameters.GetValueOrDefault("action_name") == "ChatHub/Echo"), Timeout, "the browser's ChatHub/Echo hit");
        return hits.First(h => h.Parameters.GetValueOrDefault("action_name") == "ChatHub/Echo");
    }

    private async Task InvokeControlAsync()
    {
        var control = _host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.LongPolling, ControlTag);
        await control.StartAsync().WaitAsync(Timeout);
        await control.InvokeAsync<string>("Echo", "control").WaitAsync(Timeout);
        await _matomo.WaitForHitAsync(ControlTag, "ChatHub/Echo");
    }

    private async Task<PageResult> OpenPageAsync(HttpTransportType transport, bool doNotTrack)
    {
        var url = new Uri(_host.BaseUri, "/browser/index.html?transport=" + transport).ToString();
        var run = await Task.Run(() => Run("node", [Path.Combine(_browserDir, "drive.js"), url, doNotTrack ? "on" : "off"], _browserDir, BrowserTimeout));
        Assert.That(run.ExitCode, Is.Zero, run.Output);
        var line = run.Output.Split('\n').Last(l => l.StartsWith('{'));
        var result = JsonSerializer.Deserialize<PageResult>(line, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        TestContext.Out.WriteLine($"page: {line.Trim()}");
        Assert.That(result.Ok, Is.True, result.Error);
        Assert.That(result.Echoed, Is.EqualTo("from-browser"));
        Assert.That(result.ConnectionId, Is.Not.Null);
        Assert.That(result.DoNotTrack, Is.EqualTo(doNotTrack ? "1" : null), "navigator.doNotTrack: the preference took effect");
        return result;
    }

    private static (int ExitCode, string Output) Run(string file, string[] args, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{file}: {e.Message}");
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                return (-1, $"{file} did not finish within {timeout}");
            }

            process.WaitForExit();
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
    }

    private static string FindBrowserDir()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Matomo.Rpc.SignalR.Tests", "Browser");
            if (File.Exists(Path.Combine(candidate, "drive.js")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("tests/Matomo.Rpc.SignalR.Tests/Browser not found above " + TestContext.CurrentContext.TestDirectory);
    }

    private sealed record PageResult(bool Ok, string? Echoed, string? DoNotTrack, string? ConnectionId, string? Error);
}
