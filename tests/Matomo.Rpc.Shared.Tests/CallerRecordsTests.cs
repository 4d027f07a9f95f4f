using System.Net;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// The callers' shared records: a call's scope holds the record of an equal earlier caller instead of its own copy, so
/// every hit must still carry exactly the caller its call was given (the simple path: the caller as is).
/// </summary>
[TestFixture]
public class CallerRecordsTests
{
    private const string Action = "greet.Greeter/SayHello";

    private static readonly MatomoCallerInfo Full = new()
    {
        RemoteAddress = IPAddress.Parse("192.0.2.7"),
        UserAgent = "grpc-dotnet/2.70.0 (.NET 10.0.0; CLR 10.0.0; net10.0; linux; x64)",
        Language = "fr-CH, fr;q=0.9",
        Referrer = "https://example.com/from",
        Host = "api.example.com",
        Scheme = "https",
        UserId = "user-1",
        VisitorKey = "visitor-1",
    };

    [Test]
    public void Get_EqualCallerAsNewObjects_TheSameRecord()
    {
        var records = new CallerRecords();
        var copy = Full with
        {
            RemoteAddress = IPAddress.Parse("192.0.2.7"),
            UserAgent = new string(Full.UserAgent.AsSpan()),
            Language = new string(Full.Language.AsSpan()),
            VisitorKey = new string(Full.VisitorKey.AsSpan()),
        };

        var first = records.Get(Full);
        var second = records.Get(copy);

        Assert.That(second, Is.SameAs(first));
        Assert.That(second.Info, Is.EqualTo(copy));
    }

    // Every field, changed alone, makes another caller: its record carries the change (never the earlier caller's value).
    [TestCase("RemoteAddress")]
    [TestCase("RemoteAddressFamily")]
    [TestCase("UserAgent")]
    [TestCase("UserAgentMiddle")]
    [TestCase("Language")]
    [TestCase("Referrer")]
    [TestCase("Host")]
    [TestCase("Scheme")]
    [TestCase("UserId")]
    [TestCase("VisitorKey")]
    [TestCase("OptedOut")]
    [TestCase("Null")]
    public void Get_CallerDifferingInOneField_ARecordOfItsOwnWithThatField(string field)
    {
        var records = new CallerRecords();
        var changed = Change(Full, field);
        var first = records.Get(Full);

        var second = records.Get(changed);
        var firstAgain = records.Get(Full);

        Assert.That(second, Is.Not.SameAs(first));
        Assert.That(second.Info, Is.EqualTo(changed), "the record is the caller given");
        Assert.That(firstAgain.Info, Is.EqualTo(Full), "and the first caller's record is the first caller");
    }

    [Test]
    public void Get_Ipv6AddressesDifferingOnlyInScope_TwoRecords()
    {
        var records = new CallerRecords();
        var one = Full with { RemoteAddress = IPAddress.Parse("fe80::1%1") };
        var two = Full with { RemoteAddress = IPAddress.Parse("fe80::1%2") };

        var first = records.Get(one);
        var second = records.Get(two);

        Assert.That(second, Is.Not.SameAs(first));
        Assert.That(second.Info.RemoteAddress!.ScopeId, Is.EqualTo(2));
    }

    [Test]
    public void Get_CallerWithAHugeUserAgent_NotKeptEachCallItsOwnRecordWithTheCaller()
    {
        var records = new CallerRecords();
        var huge = Full with { UserAgent = new string('a', 5000) };

        var first = records.Get(huge);
        var second = records.Get(huge);

        Assert.That(second, Is.Not.SameAs(first), "not kept in a slot");
        Assert.That(second.Info, Is.EqualTo(huge));
        Assert.That(records.Get(Full), Is.SameAs(records.Get(Full)), "an ordinary caller is kept");
    }

    [Test]
    public void Get_ManyCallersInterleaved_EveryRecordIsItsCaller()
    {
        // More callers than slots, so slots are shared and replaced: each answer must be the caller asked for (the oracle
        // is the caller itself, what a scope held before records were shared).
        var records = new CallerRecords();
        var callers = Enumerable.Range(0, 1000).Select(i => Full with
        {
            RemoteAddress = new IPAddress([10, 0, (byte)(i / 256), (byte)i]),
            UserAgent = "agent-" + (i % 7),
            VisitorKey = i % 3 == 0 ? null : "visitor-" + i,
        }).ToArray();
        var wrong = new List<int>();

        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < callers.Length; i++)
            {
                if (records.Get(callers[i]).Info != callers[i])
                {
                    wrong.Add(i);
                }
            }
        }

        Assert.That(wrong, Is.Empty);
    }

    [Test]
    public async Task Get_ManyThreadsWithTwoCallers_EveryRecordIsItsCaller()
    {
        var records = new CallerRecords();
        var a = Full;
        var b = Full with { UserId = "user-2" };
        var wrong = 0;

        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                var caller = (i + t) % 2 == 0 ? a : b;
                if (records.Get(caller).Info != caller)
                {
                    Interlocked.Increment(ref wrong);
                }
            }
        }))).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(wrong, Is.Zero);
    }

    [Test]
    public void StartCall_TwoCallsOfAnEqualCaller_ShareOneRecordAndEachHitHasTheCaller()
    {
        using var harness = new TrackerHarness();
        var copy = Full with { UserAgent = new string(Full.UserAgent.AsSpan()) };

        var first = harness.Tracker.StartCall(Full, Action, MatomoCallKind.Unary, urlPath: null)!;
        var second = harness.Tracker.StartCall(copy, Action, MatomoCallKind.Unary, urlPath: null)!;
        var other = harness.Tracker.StartCall(Full with { Language = "de" }, Action, MatomoCallKind.Unary, urlPath: null)!;
        first.Complete();
        second.Complete();
        other.Complete();

        Assert.That(second.CallerIdentity, Is.SameAs(first.CallerIdentity));
        Assert.That(other.CallerIdentity, Is.Not.SameAs(first.CallerIdentity));
        var hits = new[] { harness.TakeHit(), harness.TakeHit(), harness.TakeHit() };
        Assert.That(hits.Select(h => h.Caller), Is.EqualTo(new[] { Full, copy, Full with { Language = "de" } }));
        Assert.That(hits[1].CallerIdentity, Is.SameAs(hits[0].CallerIdentity));
        Assert.That(hits[2].CallerIdentity, Is.Not.SameAs(hits[0].CallerIdentity));
    }

    [Test]
    public void SetCaller_AfterStart_TheHitHasTheCallerSetLast()
    {
        using var harness = new TrackerHarness();
        var scope = harness.Tracker.StartCall(Full, Action, MatomoCallKind.Unary, urlPath: null)!;
        var later = Full with { Referrer = "https://example.com/later" };

        scope.SetCaller(later);
        scope.Complete();

        Assert.That(harness.TakeHit().Caller, Is.EqualTo(later));
    }

    [Test]
    public void Caller_NoCallerSet_TheEmptyCaller()
    {
        using var harness = new TrackerHarness();
        var scope = harness.Tracker.StartCall(Action, MatomoCallKind.Unary)!;

        scope.Complete();

        Assert.That(harness.TakeHit().Caller, Is.EqualTo(default(MatomoCallerInfo)));
    }

    private static MatomoCallerInfo Change(MatomoCallerInfo caller, string field) => field switch
    {
        "RemoteAddress" => caller with { RemoteAddress = IPAddress.Parse("192.0.2.8") },
        "RemoteAddressFamily" => caller with { RemoteAddress = IPAddress.Parse("::ffff:192.0.2.7") },
        "UserAgent" => caller with { UserAgent = caller.UserAgent + "!" },
        "UserAgentMiddle" => caller with { UserAgent = caller.UserAgent!.Replace("linux", "Linux", StringComparison.Ordinal) },
        "Language" => caller with { Language = "de" },
        "Referrer" => caller with { Referrer = null },
        "Host" => caller with { Host = "other.example.com" },
        "Scheme" => caller with { Scheme = "http" },
        "UserId" => caller with { UserId = "user-2" },
        "VisitorKey" => caller with { VisitorKey = "visitor-2" },
        "OptedOut" => caller with { OptedOut = true },
        "Null" => default,
        _ => throw new ArgumentOutOfRangeException(nameof(field)),
    };
}
