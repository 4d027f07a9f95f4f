using System.Globalization;
using Matomo.Rpc.Internal.Spool;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>
/// A spool written before the wire got leaner (issue 13 item 4: every byte but the unreserved ones percent-encoded,
/// <c>apiv</c>, <c>rand</c>, <c>cdt</c> as a date) replays after an upgrade, and Matomo gets the same values.
/// </summary>
public sealed class SpoolOldEncodingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Test]
    public async Task NextStart_SpoolOfTheFullyPercentEncodedFormat_ReplaysEveryHitWithItsValues()
    {
        using var directory = new SpoolDirectory();
        var time = DateTimeOffset.UtcNow.AddMinutes(-5);
        var cdt = Uri.EscapeDataString(time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        var hits = Enumerable.Range(0, 3).Select(i => new SpooledHit(
            "?idsite=1&rec=1&apiv=1&rand=0badf00d&url=https%3A%2F%2Fapi.example.org%2Fgreet.Greeter%2FSayHello"
            + "&action_name=old%2F" + i.ToString(CultureInfo.InvariantCulture) + "%20a%2Bb%20%26%20c%3Dd%20%23e"
            + "&ua=grpc-dotnet%2F2.80.0%20%28.NET%2010.0.0%3B%20linux%29&cid=0123456789abcdef&cdt=" + cdt
            + "&pf_srv=12&bots=1&cvar=%7B%221%22%3A%5B%22status%22%2C%22OK%20%280%29%22%5D%2C%222%22%3A%5B%22kind%22%2C%22unary%22%5D%7D",
            time)).ToArray();
        using (var store = SpoolStore.Open(new SpoolSettings(directory.Spool, long.MaxValue, SpoolCodec.Brotli), NullLogger.Instance, null, countDropped: (_, _) => { }))
        {
            Assert.That(store.Write(hits), Is.EqualTo(SpoolWriteResult.Written));
        }

        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        using var host = SpoolReplayHost.Build(directory, matomo);
        await host.StartAsync().WaitAsync(Timeout);
        var stored = await matomo.WaitForHitsAsync(hits.Length, Timeout);
        await host.StopAsync().WaitAsync(Timeout);

        Assert.That(stored.Select(h => h["action_name"]), Is.EquivalentTo(new[] { "old/0 a+b & c=d #e", "old/1 a+b & c=d #e", "old/2 a+b & c=d #e" }));
        Assert.That(stored.Select(h => h["ua"]).Distinct(), Is.EqualTo(new[] { "grpc-dotnet/2.80.0 (.NET 10.0.0; linux)" }));
        Assert.That(stored.Select(h => h.CustomVariable("status")).Distinct(), Is.EqualTo(new[] { "OK (0)" }));
        Assert.That(stored.Select(h => h.Time.ToUnixTimeSeconds()).Distinct(), Is.EqualTo(new[] { time.ToUnixTimeSeconds() }));
        Assert.That(host.Services.GetRequiredService<MatomoTracker>().Statistics.SpoolInherited, Is.EqualTo(hits.Length));
    }
}
