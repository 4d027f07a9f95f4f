using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// Delivery on its own, on a fake clock, with a token Matomo does not accept: no hit carries <c>cip</c> once that is
/// known (each such request is a failed login of this host in Matomo), and each hit is counted once.
/// </summary>
[TestFixture]
public class HitDeliveryTokenTests
{
    private TrackerHarness _harness = null!;
    private FakeHitWriter _writer = null!;
    private CapturingLogger _logger = null!;
    private HitDelivery _delivery = null!;

    [SetUp]
    public void SetUp()
    {
        _harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.TokenAuth = "0123456789abcdef0123456789abcdef";
        });
        _writer = new FakeHitWriter(_harness.Time);
        _logger = new CapturingLogger();
        _delivery = _harness.Delivery(_writer, logger: _logger);
    }

    [TearDown]
    public void TearDown() => _harness.Dispose();

    private MatomoStatistics Stats => _harness.Tracker.Statistics;

    [Test]
    public async Task DeliverAsync_TokenNoLongerTrusted_SendsHitsEncodedWithCipWithoutIt()
    {
        _harness.CheckState.TokenTrusted = false;

        await _delivery.DeliverAsync(Take(3), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(_writer.Calls.Single().Queries, Is.EqualTo(new[]
        {
            "?idsite=1&rec=1&action_name=a%2F0&ua=x",
            "?idsite=1&rec=1&action_name=a%2F1&ua=x",
            "?idsite=1&rec=1&action_name=a%2F2&ua=x",
        }));
        Assert.That((Stats.Sent, Stats.Rejected, Stats.Dropped), Is.EqualTo((3L, 0L, 0L)));
    }

    [Test]
    public async Task DeliverAsync_RequestInFlightWhenAnotherFoundTheTokenRefused_SendsItsHitsAgainWithoutCip()
    {
        _writer.Answer = (_, hits) =>
        {
            // Another request in flight was refused first: the token is no longer trusted when this answer comes.
            _harness.CheckState.TokenTrusted = false;
            var refused = hits.Count(h => h.Query.Contains("&cip=", StringComparison.Ordinal));
            return SendResult.Ok(hits.Count - refused, refused);
        };

        var result = await _delivery.DeliverAsync(Take(3), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(result.Done, Is.True);
        Assert.That(_writer.Calls.Select(c => c.Queries.Count(q => q.Contains("cip=", StringComparison.Ordinal))), Is.EqualTo(new[] { 3, 0 }));
        Assert.That((Stats.Sent, Stats.Rejected, Stats.Dropped), Is.EqualTo((3L, 0L, 0L)), "each hit counted once");
        Assert.That(_logger.Entries.Count(e => e.EventName == "TokenRefused"), Is.EqualTo(1));
    }

    [Test]
    public async Task DeliverAsync_HitsRefusedWithAndWithoutCip_RejectedOnceAndNotTakenForTheToken()
    {
        _writer.Answer = (_, hits) => SendResult.Ok(0, hits.Count);

        await _delivery.DeliverAsync(Take(3), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(_writer.Calls, Has.Count.EqualTo(2), "sent again once, without cip");
        Assert.That((Stats.Sent, Stats.Rejected, Stats.Dropped), Is.EqualTo((0L, 3L, 0L)), "each hit counted once");
        Assert.That(_logger.Entries.Select(e => e.EventName), Has.None.EqualTo("TokenRefused").And.Member("HitsRejected"));
    }

    [TestCase("?cip=198.51.100.7&idsite=1&rec=1", "?idsite=1&rec=1")]
    [TestCase("?idsite=1&rec=1&cip=198.51.100.7", "?idsite=1&rec=1")]
    [TestCase("?idsite=1&rec=1&cip=2001%3Adb8%3A%3A1&ua=x&cip_note=1", "?idsite=1&rec=1&ua=x&cip_note=1")]
    [TestCase("?idsite=1&rec=1&ua=x", "?idsite=1&rec=1&ua=x")]
    public void WithoutCip_HitReadBackFromTheSpool_KeepsEverythingElse(string query, string expected)
    {
        var at = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var hit = PendingHit.FromSpooled(new Internal.Spool.SpooledHit(query, at, string.Empty, "greet.Greeter/SayHello", true));

        var stripped = hit.WithoutCip();

        Assert.That((stripped.Query, stripped.HasCip), Is.EqualTo((expected, false)));
        Assert.That((stripped.Timestamp, stripped.Action, stripped.IsCrash, stripped.Hit), Is.EqualTo((at, "greet.Greeter/SayHello", true, (MatomoHit?)null)));
        Assert.That(hit.HasCip, Is.EqualTo(query.Contains("cip=", StringComparison.Ordinal)));
    }

    private Batch Take(int count)
    {
        var hits = new List<PendingHit>();
        for (var i = 0; i < count; i++)
        {
            hits.Add(new PendingHit(_harness.Hit("a/" + i), "?idsite=1&rec=1&action_name=a%2F" + i + "&cip=198.51.100.7&ua=x"));
        }

        return new Batch(hits, []);
    }
}
