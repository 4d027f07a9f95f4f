using System.Net;
using System.Text.RegularExpressions;

namespace Matomo.Rpc.Shared.Tests;

[TestFixture]
public class HitEncoderTests
{
    // Only what Matomo's bulk parsing needs is percent-encoded: ':' and '/' go as they are.
    private const string Head = "?idsite=1&rec=1&url=https://api.example.org/greet.Greeter/SayHello&action_name=greet.Greeter/SayHello";

    // 2026-01-02 03:04:05 UTC in unix seconds.
    private const string Cdt = "&cdt=1767323045";

    // {"1":["status","ok"],"2":["kind","unary"]}: only the quotes are encoded.
    private const string CvarOkUnary = "cvar={%221%22:[%22status%22,%22ok%22],%222%22:[%22kind%22,%22unary%22]}";

    [Test]
    public void Encode_UnaryOk_WritesMatomoQueryInOrder()
    {
        using var harness = new TrackerHarness();

        var query = harness.Encode();

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12&bots=1&" + CvarOkUnary));
    }

    // {"1":["status","NotFound (5)"],"2":["kind","unary"],"3":["error","RpcLikeException"]}
    [TestCase("NotFound", 5, "{%221%22:[%22status%22,%22NotFound+(5)%22],%222%22:[%22kind%22,%22unary%22]}")]
    [TestCase("error", null, "{%221%22:[%22status%22,%22error%22],%222%22:[%22kind%22,%22unary%22]}")]
    public void Encode_Outcome_CvarInMatomoShapeWithOutcomeThenKind(string name, int? code, string expectedCvar)
    {
        using var harness = new TrackerHarness();

        var query = harness.Encode(outcome: new MatomoOutcome(name, code, IsError: true));

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12&bots=1&cvar=" + expectedCvar));
    }

    [Test]
    public void Encode_StreamWithErrorTransportAndUserVariables_BuiltInsFirstThenUserInOrder()
    {
        using var harness = new TrackerHarness();

        var query = harness.Encode(call => call.AddCustomVariable("tenant", "acme"), kind: MatomoCallKind.DuplexStreaming, adapter: scope =>
        {
            scope.CountReceived();
            scope.CountSent();
            scope.CountSent();
            scope.Transport = "WebSockets";
        }, exception: new InvalidOperationException("boom"));

        Assert.That(QueryText.Parse(query)["cvar"], Is.EqualTo(
            "{\"1\":[\"status\",\"ok\"],\"2\":[\"kind\",\"duplex_streaming\"],\"3\":[\"messages\",\"in=1 out=2\"],\"4\":[\"error\",\"InvalidOperationException\"],\"5\":[\"transport\",\"WebSockets\"]}"));
    }

    [Test]
    public void Encode_MoreVariablesThanSlots_KeepsFirstSlotsOnly()
    {
        using var harness = new TrackerHarness(o => o.CustomVariableSlots = 3);

        var query = harness.Encode(call =>
        {
            call.AddCustomVariable("a", "1");
            call.AddCustomVariable("b", "2");
        });

        Assert.That(QueryText.Parse(query)["cvar"], Is.EqualTo("{\"1\":[\"status\",\"ok\"],\"2\":[\"kind\",\"unary\"],\"3\":[\"a\",\"1\"]}"));
    }

    [Test]
    public void Encode_CustomVariableNameAndValue_CutAt200()
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);

        var query = harness.Encode(call => call.AddCustomVariable(new string('n', 250), new string('v', 250)));

        Assert.That(QueryText.Parse(query)["cvar"], Is.EqualTo("{\"1\":[\"" + new string('n', 200) + "\",\"" + new string('v', 200) + "\"]}"));
    }

    [Test]
    public void Encode_RecordingNone_NoCvarWithoutUserVariables()
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);

        var query = harness.Encode();

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12&bots=1"));
    }

    [Test]
    public void Encode_CustomDimensions_MappedIndexesInsteadOfCvar()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Outcome = 4;
            o.Dimensions.CallKind = 7;
        });

        var query = harness.Encode(outcome: new MatomoOutcome("NotFound", 5, true));

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12&bots=1&dimension4=NotFound+(5)&dimension7=unary"));
    }

    [Test]
    public void Encode_RecordingBoth_CvarThenDimensions()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.Both;
            o.Dimensions.Outcome = 1;
            o.Dimensions.Error = 2;
        });

        var query = harness.Encode();

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12&bots=1&" + CvarOkUnary + "&dimension1=ok"));
    }

    [Test]
    public void Encode_DimensionValue_TrimmedAndCutAt250()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Error = 3;
        });

        var query = harness.Encode(call => call.SetVar("dimension9", "  " + new string('x', 300) + "  "), outcome: new MatomoOutcome("  spaced  "));
        var parameters = QueryText.Parse(query);

        Assert.That(parameters["dimension9"], Is.EqualTo(new string('x', 250)));
        Assert.That(parameters.ContainsKey("dimension3"), Is.False, "no error, no dimension");
    }

    [Test]
    public void Encode_PerCallDimensionOverridingBuiltIn_TrimmedAndCutAt250()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Outcome = 1;
        });

        var query = harness.Encode(call => call.SetVar("dimension1", " " + new string('y', 260)));

        Assert.That(QueryText.Parse(query)["dimension1"], Is.EqualTo(new string('y', 250)));
        Assert.That(QueryText.Names(query).Count(n => n == "dimension1"), Is.EqualTo(1));
    }

    [Test]
    public void Encode_LongUrl_CutAt1024WithoutSplittingSurrogatePair()
    {
        using var harness = new TrackerHarness(o => o.BaseUrl = "https://h");
        var action = new string('a', 1013) + "\U0001F600" + "b"; // "https://h/" is 10 chars: the pair sits at 1023-1024

        var parameters = QueryText.Parse(harness.Encode(action: action));

        Assert.That(parameters["url"], Is.EqualTo("https://h/" + new string('a', 1013)));
        Assert.That(parameters["action_name"], Is.EqualTo(action));
    }

    [Test]
    public void Encode_LongActionName_CutAt1024WithoutSplittingSurrogatePair()
    {
        using var harness = new TrackerHarness();
        var action = new string('a', 1023) + "\U0001F600";

        var query = harness.Encode(action: action);

        Assert.That(QueryText.Parse(query)["action_name"], Is.EqualTo(new string('a', 1023)));
        Assert.That(query, Does.Not.Contain("%ED%A0%BD"), "a lone high surrogate must not be written");
    }

    // Lone surrogates cannot go through attribute arguments (stored as UTF-8), hence the source.
    private static readonly object[] SurrogateCases =
    [
        new object[] { "a\uD800b", "a%EF%BF%BDb" },
        new object[] { "a\uDC00", "a%EF%BF%BD" },
        new object[] { "\uDC00\uD800", "%EF%BF%BD%EF%BF%BD" },
        new object[] { "\uD83D\uDE00", "%F0%9F%98%80" },
    ];

    [TestCaseSource(nameof(SurrogateCases))]
    public void Encode_Surrogates_PairsAsUtf8LoneOnesAsReplacementCharacter(string value, string expected)
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);

        var query = harness.Encode(call => call.SetVar("e_n", value));

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12&bots=1&e_n=" + expected));
    }

    [Test]
    public void Encode_CustomVariableWithLoneSurrogateAndJsonSpecials_ReplacementCharacterInValidJson()
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);

        var query = harness.Encode(call => call.AddCustomVariable("n\uDC00", "a\uD800\"<>&+'é"));

        using var json = System.Text.Json.JsonDocument.Parse(QueryText.Parse(query)["cvar"]);
        var slot = json.RootElement.GetProperty("1");
        Assert.That(slot[0].GetString(), Is.EqualTo("n\uFFFD"));
        Assert.That(slot[1].GetString(), Is.EqualTo("a\uFFFD\"<>&+'é"));
    }

    [TestCase("é", "%C3%A9")]
    [TestCase("a&b=c+d#e%f", "a%26b%3Dc%2Bd%23e%25f")]
    [TestCase("l1\nl2\t\u0001\u007f\r", "l1%0Al2%09%01%7F%0D")]
    [TestCase("q\"b\\s", "q%22b%5Cs")]
    [TestCase("a b/c?d", "a+b/c?d")]
    [TestCase("-_.~", "-_.~")]
    [TestCase("!$'()*,:;<>@[]^`{|}", "!$'()*,:;<>@[]^`{|}")]
    public void Encode_Value_PercentEncodedWhereMatomosParsingNeedsIt(string value, string expected)
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);

        var query = harness.Encode(call => call.SetVar("e_n", value));

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12&bots=1&e_n=" + expected));
    }

    [Test]
    public void Encode_EveryAsciiCharacterAndNonAscii_PrintableJsonSafeAsciiThatDecodesBackAsPhpDecodes()
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);
        var value = new string([.. Enumerable.Range(0, 128).Select(i => (char)i)]) + "é中\U0001F600";

        var query = harness.Encode(call => call.SetVar("e_n", value));

        // What parse_url would change (controls, '#') or the JSON body would need escaped ('"', '\\') is never raw, nor a space.
        Assert.That(query.All(c => c > ' ' && c < '\u007f' && c is not ('"' or '\\' or '#')), Is.True, query);
        Assert.That(QueryText.Parse(query)["e_n"], Is.EqualTo(value));
        Assert.That(query, Does.Contain("&e_n=%00%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14%15%16%17%18%19%1A%1B%1C%1D%1E%1F"
            + "+!%22%23$%25%26'()*%2B,-./0123456789:;<%3D>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[%5C]^_`abcdefghijklmnopqrstuvwxyz{|}~%7F"
            + "%C3%A9%E4%B8%AD%F0%9F%98%80"));
    }

    [Test]
    public void Encode_LongRunOfEscapedCharacters_EncodedCompletely()
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);
        var value = string.Concat(Enumerable.Repeat("\U0001F600é&", 200));

        var query = harness.Encode(call => call.SetVar("e_n", value));

        Assert.That(QueryText.Parse(query)["e_n"], Is.EqualTo(value));
    }

    [TestCase(12.4, "12")]
    [TestCase(12.5, "13")]
    [TestCase(0.2, "0")]
    [TestCase(61000, "61000")]
    public void Encode_Duration_IntegerMilliseconds(double ms, string expected)
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);

        var query = harness.Encode(duration: TimeSpan.FromTicks((long)(ms * TimeSpan.TicksPerMillisecond)));

        Assert.That(query, Does.StartWith(Head + "&cdt="));
        Assert.That(query, Does.EndWith("&pf_srv=" + expected + "&bots=1"));
    }

    [Test]
    public void Encode_GenerationTimeOff_NoGtMs()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.SendGenerationTime = false;
        });

        var query = harness.Encode();

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12&bots=1"));
    }

    [Test]
    public void Encode_TrackBotsOff_NoBots()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.TrackBots = false;
        });

        var query = harness.Encode();

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12"));
    }

    [Test]
    public void Encode_Event_NoPfSrvNorGtMs()
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);

        var query = harness.Encode(call =>
        {
            call.SetVar("e_c", "hub");
            call.SetVar("e_a", "connect");
        });

        Assert.That(query, Is.EqualTo(Head + Cdt + "&bots=1&e_c=hub&e_a=connect"));
    }

    [Test]
    public void Encode_OnlyEventCategory_StillAPageViewWithPfSrv()
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);

        var query = harness.Encode(call => call.SetVar("e_c", "hub"));

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12&bots=1&e_c=hub"));
    }

    [Test]
    public void Encode_SentLater_CdtIsCallEnd()
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);
        var hit = harness.Hit(duration: TimeSpan.FromSeconds(3));

        harness.Time.Advance(TimeSpan.FromHours(1));
        var query = harness.Encoder().Encode(hit);

        Assert.That(QueryText.Parse(query)["cdt"], Is.EqualTo("1767323048"), "2026-01-02 03:04:08 UTC in unix seconds");
    }

    [TestCase("203.0.113.77", 0, "203.0.113.77")]
    [TestCase("203.0.113.77", 1, "203.0.113.0")]
    [TestCase("203.0.113.77", 2, "203.0.0.0")]
    [TestCase("203.0.113.77", 4, "0.0.0.0")]
    [TestCase("::ffff:10.1.2.3", 1, "10.1.2.0")]
    [TestCase("2001:db8:1:2:3:4:5:6", 1, "2001:db8:1:2::")]
    [TestCase("2001:db8:1:2:3:4:5:6", 2, "2001:db8:1::")]
    [TestCase("2001:db8:1:2:3:4:5:6", 3, "2001:d00::")]
    public void Encode_WithToken_CipMasked(string address, int maskBytes, string expected)
    {
        using var harness = new TrackerHarness(o =>
        {
            o.TokenAuth = "secret-token";
            o.IpMaskBytes = maskBytes;
        });

        var query = harness.Encode(caller: TrackerHarness.DefaultCaller with { RemoteAddress = IPAddress.Parse(address) });

        Assert.That(QueryText.Parse(query)["cip"], Is.EqualTo(expected));
        Assert.That(query, Does.Not.Contain("secret-token"));
    }

    [Test]
    public void Encode_WithoutToken_NoCip()
    {
        using var harness = new TrackerHarness();

        var query = harness.Encode(caller: TrackerHarness.DefaultCaller with { RemoteAddress = IPAddress.Parse("203.0.113.77") });

        Assert.That(QueryText.Parse(query).ContainsKey("cip"), Is.False);
    }

    [Test]
    public void Encode_WithTokenAndPerCallUid_StillSendsCip()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.TokenAuth = "secret-token";
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.UserId.Mode = MatomoUserIdMode.Plain;
        });

        var parameters = QueryText.Parse(harness.Encode(call => call.SetVar("uid", "alice"),
            caller: TrackerHarness.DefaultCaller with { RemoteAddress = IPAddress.Parse("203.0.113.77") }));

        Assert.That(parameters["uid"], Is.EqualTo("alice"));
        Assert.That(parameters.ContainsKey("cid"), Is.False);
        Assert.That(parameters["cip"], Is.EqualTo("203.0.113.77"));
    }

    [Test]
    public void Encode_CallerHeaders_SentAsDecodedStrings()
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);

        var query = harness.Encode(caller: TrackerHarness.DefaultCaller with { UserAgent = "grpc-dotnet/2.80", Language = "de-CH,de;q=0.9", Referrer = "https://ref/x" });

        Assert.That(query, Is.EqualTo(Head + "&ua=grpc-dotnet/2.80&lang=de-CH,de;q%3D0.9&urlref=https://ref/x" + Cdt + "&pf_srv=12&bots=1"));
    }

    [Test]
    public void Encode_Hashed_Cid16HexStableWithinDay()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.Hashed);
        var caller = TrackerHarness.DefaultCaller with { RemoteAddress = IPAddress.Parse("198.51.100.1"), UserAgent = "ua" };

        var first = QueryText.Parse(harness.Encode(caller: caller))["cid"];
        harness.Time.Advance(TimeSpan.FromHours(5));
        var second = QueryText.Parse(harness.Encode(caller: caller))["cid"];
        var other = QueryText.Parse(harness.Encode(caller: caller with { RemoteAddress = IPAddress.Parse("198.51.100.2") }))["cid"];

        Assert.That(first, Does.Match("^[0-9a-f]{16}$"));
        Assert.That(second, Is.EqualTo(first));
        Assert.That(other, Is.Not.EqualTo(first));
    }

    [Test]
    public void Encode_Hashed_CidChangesAcrossDaysAndSalts()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.Hashed);
        using var otherSalt = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.VisitorIdSalt = "pepper";
        });
        var caller = TrackerHarness.DefaultCaller with { VisitorKey = "connection-1" };

        var today = QueryText.Parse(harness.Encode(caller: caller))["cid"];
        var salted = QueryText.Parse(otherSalt.Encode(caller: caller))["cid"];
        harness.Time.Advance(TimeSpan.FromDays(1));
        var tomorrow = QueryText.Parse(harness.Encode(caller: caller))["cid"];

        Assert.That(tomorrow, Is.Not.EqualTo(today));
        Assert.That(salted, Is.Not.EqualTo(today));
        Assert.That(tomorrow, Does.Match("^[0-9a-f]{16}$"));
    }

    [Test]
    public void Encode_UserIdentityPlain_UidForKnownUserCidOtherwise()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.UserId;
            o.UserId.Mode = MatomoUserIdMode.Plain;
        });

        var known = QueryText.Parse(harness.Encode(caller: TrackerHarness.DefaultCaller with { UserId = "alice@example.org" }));
        var anonymous = QueryText.Parse(harness.Encode());

        Assert.That(known["uid"], Is.EqualTo("alice@example.org"));
        Assert.That(known.ContainsKey("cid"), Is.False);
        Assert.That(anonymous.ContainsKey("uid"), Is.False);
        Assert.That(anonymous["cid"], Does.Match("^[0-9a-f]{16}$"));
    }

    [Test]
    public void Encode_PerCallCid_ReplacesGeneratedOne()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.Hashed);

        var query = harness.Encode(call => call.SetVar("cid", "0123456789abcdef"));

        Assert.That(QueryText.Names(query).Count(n => n == "cid"), Is.EqualTo(1));
        Assert.That(QueryText.Parse(query)["cid"], Is.EqualTo("0123456789abcdef"));
    }

    [Test]
    public void Encode_ActionDetailsAndPerCall_PerCallWinsAndBuiltInsReplacedInPlace()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.ActionDetails["greet.Greeter/SayHello"] = new() { ["action_name"] = "Greeting", ["lang"] = "fr", ["e_n"] = "details", ["dimension2"] = "d" };
        });

        var query = harness.Encode(call =>
        {
            call.SetVar("lang", "de");
            call.SetVar("url", "https://other/x");
            call.SetVar("new_visit", "1");
        }, caller: TrackerHarness.DefaultCaller with { Language = "en" });

        Assert.That(query, Is.EqualTo(
            "?idsite=1&rec=1&url=https://other/x&action_name=Greeting&lang=de" + Cdt
            + "&pf_srv=12&bots=1&e_n=details&dimension2=d&new_visit=1"));
    }

    [Test]
    public void Encode_PerCallActionName_WinsOverDetails()
    {
        using var harness = new TrackerHarness(o => o.ActionDetails["greet.Greeter/SayHello"] = new() { ["action_name"] = "Greeting" });

        var query = harness.Encode(call => call.SetVar("action_name", "Mine"));

        Assert.That(QueryText.Parse(query)["action_name"], Is.EqualTo("Mine"));
        Assert.That(QueryText.Names(query).Count(n => n == "action_name"), Is.EqualTo(1));
    }

    [Test]
    public void Encode_PerCallPfSrv_ReplacesMeasuredDuration()
    {
        using var harness = new TrackerHarness(o => o.Recording = MatomoRecording.None);

        var query = harness.Encode(call => call.SetPerf("pf_srv", TimeSpan.FromMilliseconds(3)));

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=3&bots=1"));
    }

    [Test]
    public void Encode_GenerationTimeOn_GtMsEqualsPfSrv()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.SendGenerationTime = true;
        });

        var query = harness.Encode();

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=12&gt_ms=12&bots=1"));
    }

    [Test]
    public void Encode_GenerationTimeOnWithPerCallPfSrv_GtMsEqualsPfSrv()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.SendGenerationTime = true;
        });

        var query = harness.Encode(call => call.SetPerf("pf_srv", TimeSpan.FromMilliseconds(3)));

        Assert.That(query, Is.EqualTo(Head + Cdt + "&pf_srv=3&gt_ms=3&bots=1"));
    }

    [Test]
    public void EncodeCrash_FailedCall_CaOneWithMessageTypeAndUrl()
    {
        using var harness = new TrackerHarness(o => o.TrackCrashes = true);
        var hit = harness.Hit(outcome: MatomoOutcome.Error, exception: new InvalidOperationException("bad & worse"));

        var query = harness.Encoder().EncodeCrash(hit);

        Assert.That(query, Is.EqualTo(
            "?idsite=1&rec=1&url=https://api.example.org/greet.Greeter/SayHello&ca=1&cra=bad+%26+worse"
            + "&cra_tp=InvalidOperationException&cra_ru=https://api.example.org/greet.Greeter/SayHello" + Cdt + "&bots=1"));
    }

    [TestCase("uid", "alice")]
    [TestCase("cid", "0123456789abcdef")]
    [TestCase("_id", "fedcba9876543210")]
    public void EncodeCrash_VisitorSetForTheCall_CrashKeepsIt(string name, string value)
    {
        using var harness = new TrackerHarness(o =>
        {
            o.TrackCrashes = true;
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.UserId.Mode = MatomoUserIdMode.Plain;
        });
        var hit = harness.Hit(during: call =>
        {
            call.SetVar(name, value);
            call.SetVar("e_c", "not in a crash");
        }, outcome: MatomoOutcome.Error, exception: new InvalidOperationException("boom"));
        var encoder = harness.Encoder();

        var call = QueryText.Parse(encoder.Encode(hit));
        var crash = QueryText.Parse(encoder.EncodeCrash(hit));

        Assert.That(crash[name], Is.EqualTo(value));
        Assert.That(call[name], Is.EqualTo(value));
        Assert.That(crash.ContainsKey("cid"), Is.EqualTo(call.ContainsKey("cid")), "the crash lands on the call's visitor");
        Assert.That(crash.ContainsKey("e_c"), Is.False, "only what names the visitor");
        Assert.That(crash["ca"], Is.EqualTo("1"));
    }

    [Test]
    public void EncodeCrash_HashedVisitor_SameCidAsTheCall()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.TrackCrashes = true;
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
        });
        var hit = harness.Hit(caller: TrackerHarness.DefaultCaller with { RemoteAddress = IPAddress.Parse("203.0.113.9"), UserAgent = "ua" },
            outcome: MatomoOutcome.Error, exception: new InvalidOperationException("boom"));
        var encoder = harness.Encoder();

        var call = QueryText.Parse(encoder.Encode(hit));
        var crash = QueryText.Parse(encoder.EncodeCrash(hit));

        Assert.That(crash["cid"], Does.Match("^[0-9a-f]{16}$"));
        Assert.That(crash["cid"], Is.EqualTo(call["cid"]));
    }

    [Test]
    public void Encode_AnyHit_NoApivAndNoRandWhichNothingInMatomoReads()
    {
        using var harness = new TrackerHarness();

        var query = harness.Encode();

        Assert.That(query, Does.StartWith("?idsite=1&rec=1&url="));
        Assert.That(QueryText.Names(query), Does.Not.Contain("apiv").And.Not.Contain("rand"));
    }

    [Test]
    public void Encode_NoBaseUrl_SchemeFromAssumeHttps()
    {
        using var harness = new TrackerHarness(o => o.AssumeHttps = false);

        var query = harness.Encode();

        Assert.That(QueryText.Parse(query)["url"], Is.EqualTo("http://api.example.org/greet.Greeter/SayHello"));
    }

    [Test]
    public void Encode_Always_StartsWithQuestionMarkAndHasNoByteStrings()
    {
        using var harness = new TrackerHarness();

        var query = harness.Encode(caller: TrackerHarness.DefaultCaller with { UserAgent = "ua", Referrer = "r" });

        Assert.That(query, Does.StartWith("?"));
        Assert.That(Regex.IsMatch(query, "=b('|%27)"), Is.False);
    }
}
