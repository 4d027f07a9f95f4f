using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>What Matomo refuses in an encoded hit: checked before a hit goes to a Matomo that queues hits.</summary>
public class ParameterRulesTests
{
    [TestCase("?idsite=1&rec=1&cid=0123456789abcdef&pf_srv=12&cdt=2026-01-02%2003%3A04%3A05", false)]
    [TestCase("?idsite=1&rec=1&pf_srv=0&pf_net=16777215", false)]
    [TestCase("?idsite=1&rec=1&cip=198.51.100.7", true)]
    [TestCase("?idsite=1&rec=1&_id=not-a-visitor-id", false)] // ignored by Matomo, not refused
    [TestCase("?idsite=1&rec=1&ca=1&cra=boom", false)] // crash hits go alone: refused, they cost only themselves
    public void CheckQuery_HitMatomoTakes_Null(string query, bool tokenTrusted)
    {
        Assert.That(ParameterRules.CheckQuery(query, tokenTrusted), Is.Null);
    }

    [TestCase("?idsite=1&rec=1&cid=0123456789abcdeg", false, "cid")]
    [TestCase("?idsite=1&rec=1&cid=0123456789abcde", false, "cid")]
    [TestCase("?idsite=1&rec=1&cid=", false, "cid")]
    [TestCase("?idsite=1&rec=1&pf_srv=-1", false, "pf_srv")]
    [TestCase("?idsite=1&rec=1&pf_srv=12.5", false, "pf_srv")]
    [TestCase("?idsite=1&rec=1&pf_dm1=16777216", false, "pf_dm1")]
    [TestCase("?idsite=1&rec=1&pf_tfr", false, "pf_tfr")]
    [TestCase("?idsite=1&rec=1&cip=198.51.100.7", false, "cip")]
    public void CheckQuery_HitMatomoRefuses_SaysWhich(string query, bool tokenTrusted, string parameter)
    {
        Assert.That(ParameterRules.CheckQuery(query, tokenTrusted), Does.Contain(parameter));
    }

    [Test]
    public void CheckQuery_EveryHitTheEncoderMakes_Null()
    {
        // What the library adds itself (cid, pf_srv, cdt, cip with a trusted token) passes the check, for long calls too.
        using var harness = new TrackerHarness(o =>
        {
            o.LogOnly = false;
            o.TrackerUrl = "https://matomo.example.org/matomo.php";
            o.TokenAuth = "0123456789abcdef0123456789abcdef";
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
        });
        var caller = new MatomoCallerInfo { Host = "api.example.org", RemoteAddress = System.Net.IPAddress.Parse("198.51.100.7"), UserAgent = "ua" };

        string[] queries =
        [
            harness.Encode(caller: caller),
            harness.Encode(caller: caller, duration: TimeSpan.FromHours(5)),
            harness.Encode(caller: caller, during: c => c.MeasurePerf("pf_dm1").Dispose()),
        ];

        Assert.That(queries.Select(q => ParameterRules.CheckQuery(q, tokenTrusted: true)), Has.All.Null, string.Join("\n", queries));
        Assert.That(queries, Has.All.Contain("&cid=").And.All.Contain("&cip="));
    }
}
