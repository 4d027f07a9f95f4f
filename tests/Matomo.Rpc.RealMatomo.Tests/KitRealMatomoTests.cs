using System.Diagnostics;
using System.Globalization;
using Greet;
using Matomo.Rpc.Grpc.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.RealMatomo.Tests;

/// <summary>
/// Tests that change the kit's Matomo (../shared/matomo) and put it back: its database stopped, QueuedTracking on.
/// They need <c>MATOMO_KIT</c> (the kit's folder) and <c>MATOMO_ENV_FILE</c> (the env file up.sh wrote), which
/// .ci/run sets; on another Matomo they are skipped.
/// </summary>
public class KitRealMatomoTests : RealMatomoFixture
{
    [Test]
    public async Task CallWhileDatabaseIsDown_IsStoredOnceMatomoIsBackWithItsOriginalTime()
    {
        RealMatomo.RequireOrIgnore("MATOMO_KIT", "MATOMO_ENV_FILE", "MATOMO_DB_PID");
        var site = await NewSiteAsync();
        await using var host = await StartGrpcAsync(site, TrackingToken, o => o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(2));
        var tracker = host.Services.GetRequiredService<MatomoTracker>();
        DateTimeOffset before, after, restarted;
        try
        {
            await StopDatabaseAsync();
            before = DateTimeOffset.UtcNow;
            await host.Greeter.SayHelloAsync(new HelloRequest { Name = "while-down" }).ResponseAsync.WaitAsync(TestTimeouts.Default);
            after = DateTimeOffset.UtcNow;

            // Matomo fails while its database is down: the hit is retried, not lost. The database stays down a few
            // seconds, so that the time Matomo stores tells the call's time from the time it got the hit.
            await WaitForAsync(
                () => tracker.Statistics is var s && ((s.Retried >= 2 && DateTimeOffset.UtcNow - after > TimeSpan.FromSeconds(3)) || s.Sent + s.Rejected + s.Dropped > 0),
                "the tracker retries while Matomo's database is down");
            Assert.That(tracker.Statistics.Sent + tracker.Statistics.Rejected + tracker.Statistics.Dropped, Is.Zero, tracker.Statistics.ToString());
            restarted = DateTimeOffset.UtcNow;
        }
        finally
        {
            await UpAsync();
        }

        var stats = await WaitUntilAccountedAsync(host.Services, 1, TimeSpan.FromSeconds(60));
        var visits = await Matomo.WaitForActionsAsync(site, 1);

        var action = visits.Single().Actions.Single();
        Assert.That(stats.Sent, Is.EqualTo(1), stats.ToString());
        Assert.That(action.Title, Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(action.Time, Is.InRange(before.AddSeconds(-1), after.AddSeconds(1)), "stored with the call's time, not the time it reached Matomo");
        Assert.That(restarted - action.Time, Is.GreaterThan(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public async Task Check_QueuedTrackingOn_SaysHitsAreQueuedAndWhatThatMeans()
    {
        RealMatomo.RequireOrIgnore("MATOMO_KIT", "MATOMO_ENV_FILE");
        var site = await NewSiteAsync();
        var wasQueued = RealMatomo.Variable("MATOMO_QUEUED") == "1";
        MatomoCheckReport withToken, withoutToken;
        try
        {
            await UpAsync(queued: true);
            withToken = await CheckAsync(site, TrackingToken);
            withoutToken = await CheckAsync(site, null);
        }
        finally
        {
            await UpAsync(queued: wasQueued);
        }

        var queuedOff = wasQueued ? null : await CheckAsync(site, TrackingToken);

        var queued = withToken.Findings.Single(f => f.Code == "queued-tracking");
        Assert.That(queued.Severity, Is.EqualTo(MatomoCheckSeverity.Advice));
        Assert.That(queued.Message, Does.Contain("QueuedTracking plugin is active and its queue is on").And.Contain("reports nothing per hit").And.Contain("every later hit of the same request"));
        Assert.That(withToken.LosesData, Is.False, withToken.ToString());
        Assert.That(withoutToken.Findings.Select(f => f.Code), Is.EqualTo(new[] { "reachable", "no-token" }), "without a token only reachability is checked");
        if (queuedOff is not null)
        {
            Assert.That(queuedOff.Findings.Select(f => f.Code), Has.None.EqualTo("queued-tracking"), queuedOff.ToString());
        }
    }

    [Test]
    public async Task Send_QueuedTrackingOn_HitsCountedAsSentAndAllStoredOnceTheQueueIsProcessed()
    {
        RealMatomo.RequireOrIgnore("MATOMO_KIT", "MATOMO_ENV_FILE");
        const int Calls = 45;
        var site = await NewSiteAsync();
        var wasQueued = RealMatomo.Variable("MATOMO_QUEUED") == "1";
        MatomoStatistics stats;
        IReadOnlyList<Grpc.Tests.Support.ListLoggerProvider.LogEntry> logs;
        int stored;
        try
        {
            await UpAsync(queued: true);
            await using (var host = await StartGrpcAsync(site, TrackingToken, o =>
            {
                o.Check.Enabled = false; // the sender recognises the queue from Matomo's answer by itself
                o.Sending.BatchSize = 10;
            }))
            {
                for (var i = 0; i < Calls; i++)
                {
                    await host.Greeter.SayHelloAsync(new HelloRequest { Name = "queued-" + i }).ResponseAsync.WaitAsync(TestTimeouts.Default);
                }

                stats = await WaitUntilAccountedAsync(host.Services, Calls);
                logs = host.Logs.Entries;
            }

            var process = RealMatomo.Variable("MATOMO_QUEUE_PROCESS");
            Assert.That(process, Is.Not.Null, "up.sh with MATOMO_QUEUED=1 writes MATOMO_QUEUE_PROCESS");
            var (exitCode, output) = await RealMatomo.RunAsync(process!, [], TimeSpan.FromMinutes(2));
            Assert.That(exitCode, Is.EqualTo(0), output);
            var rows = await RealMatomo.SqlAsync($"select count(*) from matomo_log_link_visit_action where idsite = {site}");
            stored = int.Parse(rows[0][0], CultureInfo.InvariantCulture);
        }
        finally
        {
            await UpAsync(queued: wasQueued);
        }

        Assert.That(stats.Sent, Is.EqualTo(Calls), stats.ToString());
        Assert.That(stats.AcceptedWithoutCount, Is.EqualTo(Calls), "every hit was taken without Matomo's count of it");
        Assert.That((stats.Rejected, stats.Dropped), Is.EqualTo((0L, 0L)), stats.ToString());
        Assert.That(stored, Is.EqualTo(stats.Sent), "what was counted sent is what Matomo stored once its queue was processed");
        Assert.That(logs.Count(e => e.EventId.Name == "MatomoQueuesHits"), Is.EqualTo(1), "said once that Matomo queues hits");
        Assert.That(logs.Select(e => e.EventId.Name), Has.None.EqualTo("UnexpectedAnswer"));
    }

    private async Task<MatomoCheckReport> CheckAsync(int site, string? token)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMatomoTracking(o =>
        {
            Track(o, site, token);
            o.Check.Enabled = false;
        });
        await using var provider = services.BuildServiceProvider();
        var report = await provider.GetRequiredService<MatomoSiteCheck>().RunAsync().WaitAsync(RealMatomo.Patience);
        TestContext.Out.WriteLine(report);
        return report;
    }

    /// <summary>Stops MariaDB cleanly through the kit's PID and waits until it is gone.</summary>
    private static async Task StopDatabaseAsync()
    {
        var pid = int.Parse(KitVariable("MATOMO_DB_PID")!, CultureInfo.InvariantCulture);
        Assert.That(IsRunning(pid), Is.True, $"MariaDB (MATOMO_DB_PID {pid}) is not running");
        var (exitCode, output) = await RealMatomo.RunAsync("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        Assert.That(exitCode, Is.EqualTo(0), output);
        await WaitForAsync(() => !IsRunning(pid), "MariaDB stops", TimeSpan.FromSeconds(60));
    }

    /// <summary>
    /// Runs the kit's up.sh on the env file (it starts only what is down) and takes the new PIDs from the env file, so
    /// that the kit is whole again for the next test.
    /// </summary>
    private static async Task UpAsync(bool? queued = null)
    {
        var upScript = Path.Combine(RealMatomo.Variable("MATOMO_KIT")!, "up.sh");
        var envFile = RealMatomo.Variable("MATOMO_ENV_FILE")!;
        var environment = new Dictionary<string, string>();
        if (queued is { } q)
        {
            environment["MATOMO_QUEUED"] = q ? "1" : "0";
        }

        var (exitCode, output) = await RealMatomo.RunAsync(upScript, [envFile], TimeSpan.FromMinutes(5), environment);
        TestContext.Out.WriteLine(output);
        Assert.That(exitCode, Is.EqualTo(0), output);
        foreach (var line in File.ReadAllLines(envFile))
        {
            if (line.StartsWith("MATOMO_", StringComparison.Ordinal) && line.IndexOf('=', StringComparison.Ordinal) is > 0 and var at)
            {
                Environment.SetEnvironmentVariable(line[..at], line[(at + 1)..]);
            }
        }
    }

    /// <summary>
    /// A value of the kit's env file as it is now (up.sh rewrites it when it restarts a server: an earlier test run, in
    /// another process, may have restarted MariaDB after this process's environment was set), else of the environment.
    /// </summary>
    private static string? KitVariable(string name)
    {
        if (RealMatomo.Variable("MATOMO_ENV_FILE") is { Length: > 0 } envFile && File.Exists(envFile))
        {
            var prefix = name + "=";
            foreach (var line in File.ReadAllLines(envFile))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line[prefix.Length..];
                }
            }
        }

        return RealMatomo.Variable(name);
    }

    private static bool IsRunning(int pid)
    {
        // A zombie still has /proc/PID; its state is Z.
        var stat = $"/proc/{pid}/stat";
        try
        {
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)..].FirstOrDefault() is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, string what, TimeSpan? patience = null)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > (patience ?? RealMatomo.Patience))
            {
                Assert.Fail($"Waited {watch.Elapsed} for: {what}");
            }

            await Task.Delay(100);
        }
    }
}
