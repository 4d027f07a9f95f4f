using System.Globalization;
using System.Runtime.Versioning;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>
/// Issue 14, test 3: a process tracking into a Matomo that is down is killed hard (SIGKILL); the next start on its spool
/// sends what it had written. What it held only in memory is the only loss.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class SpoolKillTests
{
    private const int Calls = 20 * SpoolChildProgram.KillQueueCapacity;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Test]
    [Platform(Exclude = "Win")]
    public async Task NextStart_AfterAProcessWasKilledDuringAnOutage_SendsEveryHitItHadWrittenAndLosesAtMostWhatWasInMemory()
    {
        using var directory = new SpoolDirectory();
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await matomo.StopAsync().WaitAsync(Timeout);
        long spooled, waiting, held, dropped, sent;
        using (var child = ChildProcess.Spool("host-outage", directory.Spool, matomo.TrackerUrl, Calls.ToString(CultureInfo.InvariantCulture)))
        {
            var line = await child.ReadLineAsync(Timeout);
            var figures = line.Split(' ');
            Assert.That(figures[0], Is.EqualTo("ready"), line);
            (spooled, waiting, held, dropped, sent) = (Long(figures[1]), Long(figures[2]), Long(figures[3]), Long(figures[4]), Long(figures[5]));

            child.Kill();
            await child.WaitForExitAsync(Timeout);
        }

        await matomo.RestartAsync().WaitAsync(Timeout);
        using var host = SpoolReplayHost.Build(directory, matomo);
        await host.StartAsync().WaitAsync(Timeout);
        var tracker = host.Services.GetRequiredService<MatomoTracker>();
        await Eventually.TrueAsync(() => tracker.Statistics is var s && s.SpoolWaiting == 0 && s.Replayed == s.SpoolInherited, Timeout, () => tracker.Statistics.ToString());
        await host.StopAsync().WaitAsync(Timeout);

        var stats = tracker.Statistics;
        var stored = matomo.Hits.Select(h => h["action_name"]).ToList();
        var lost = Calls - stored.Count;
        TestContext.Out.WriteLine($"kill: calls={Calls} at-report spooled={spooled} spool-waiting={waiting} in-memory={held} dropped={dropped} sent={sent}; next start {stats}; stored={stored.Count} lost={lost}");
        Assert.That(sent, Is.Zero, "Matomo was down");
        Assert.That(stored, Is.Unique, "each hit stored once");
        Assert.That(stored.All(a => a.StartsWith("kill/", StringComparison.Ordinal)), Is.True);
        Assert.That(stats.SpoolInherited, Is.EqualTo(stored.Count), "what the next start found is what it sent");
        Assert.That(stored.Count, Is.GreaterThanOrEqualTo(spooled), "every hit written to the spool before the kill is stored");

        // The bound: what the killed process held in memory (its queue, at most QueueCapacity, and hits on their way to
        // disk) plus what its full queue had refused, all as it reported just before the kill.
        Assert.That(lost, Is.LessThanOrEqualTo(held + dropped + (waiting - spooled)));
        Assert.That(lost, Is.LessThanOrEqualTo(SpoolChildProgram.KillQueueCapacity + dropped + SpoolFormatMaxHitsPerFile));
    }

    private const int SpoolFormatMaxHitsPerFile = Matomo.Rpc.Internal.Spool.SpoolFormat.MaxHitsPerFile;

    private static long Long(string text) => long.Parse(text, CultureInfo.InvariantCulture);
}
