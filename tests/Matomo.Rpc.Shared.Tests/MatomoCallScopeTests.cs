using System.Net;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>The scope adapters drive: completion is single-winner, setters race safely, Dispose ends an unfinished call.</summary>
[TestFixture]
public class MatomoCallScopeTests
{
    private const string Action = "greet.Greeter/SayHello";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private TrackerHarness _harness = null!;

    [SetUp]
    public void SetUp() => _harness = new TrackerHarness(o => o.Sending.QueueCapacity = 10_000);

    [TearDown]
    public void TearDown() => _harness.Dispose();

    [Test]
    public async Task Complete_ManyThreadsEachWithItsOwnOutcome_TheHitHasTheWinnersOutcome()
    {
        const int Rounds = 300;
        const int Threads = 8;
        var outcomes = Enumerable.Range(0, Threads).Select(i => new MatomoOutcome("outcome-" + i, i, IsError: i > 0)).ToArray();
        var mismatches = new List<string>();

        for (var round = 0; round < Rounds; round++)
        {
            var scope = _harness.Tracker.StartCall(Action, MatomoCallKind.Unary)!;
            using var start = new Barrier(Threads);
            var won = await Task.WhenAll(outcomes.Select(outcome => Task.Run(() =>
            {
                start.SignalAndWait();
                return scope.Complete(outcome, new InvalidOperationException(outcome.Name)) ? outcome : (MatomoOutcome?)null;
            }))).WaitAsync(Timeout);

            var winners = won.Where(o => o is not null).Select(o => o!.Value).ToArray();
            Assert.That(winners, Has.Length.EqualTo(1), "exactly one completion wins");
            var hit = _harness.TakeHit();
            if (hit.Outcome != winners[0])
            {
                mismatches.Add($"round {round}: won {winners[0]}, recorded {hit.Outcome}");
            }
        }

        Assert.That(mismatches, Is.Empty, "a losing completion changed the winner's hit");
        Assert.That(_harness.Queue.Waiting, Is.Zero, "one hit per call");
    }

    [Test]
    public async Task SetCaller_RacingComplete_TheHitHasOneWholeCaller()
    {
        var first = new MatomoCallerInfo { RemoteAddress = IPAddress.Parse("192.0.2.1"), UserAgent = "first", Language = "fr", Host = "first.example", Scheme = "http", UserId = "first-user" };
        var second = new MatomoCallerInfo { RemoteAddress = IPAddress.Parse("198.51.100.2"), UserAgent = "second", Language = "de", Host = "second.example", Scheme = "https", UserId = "second-user" };
        var torn = new List<MatomoCallerInfo>();

        for (var round = 0; round < 200; round++)
        {
            var scope = _harness.Tracker.StartCall(Action, MatomoCallKind.DuplexStreaming)!;
            using var start = new Barrier(3);
            var written = 0;
            var writers = new[] { first, second }.Select(caller => Task.Run(() =>
            {
                start.SignalAndWait();
                for (var i = 0; i < 200 && !scope.IsFinished; i++)
                {
                    scope.SetCaller(caller);
                    Interlocked.Increment(ref written);
                }
            })).ToArray();
            var completer = Task.Run(() =>
            {
                start.SignalAndWait();
                // Complete while the writers are at it (they have begun writing), not after a guessed spin.
                SpinWait.SpinUntil(() => Volatile.Read(ref written) >= 2 || writers.All(w => w.IsCompleted));
                return scope.Complete();
            });

            await Task.WhenAll([.. writers, completer]).WaitAsync(Timeout);

            var caller = _harness.TakeHit().Caller;
            if (caller != first && caller != second && caller != default)
            {
                torn.Add(caller);
            }
        }

        Assert.That(torn, Is.Empty, "a caller written while the hit was built came out mixed");
    }

    [Test]
    public async Task Setters_RacingComplete_AfterTheWinIgnoredAndNothingThrows()
    {
        for (var round = 0; round < 100; round++)
        {
            var scope = _harness.Tracker.StartCall(Action, MatomoCallKind.DuplexStreaming)!;
            using var start = new Barrier(4);
            var setters = Enumerable.Range(0, 3).Select(t => Task.Run(() =>
            {
                start.SignalAndWait();
                for (var i = 0; i < 100; i++)
                {
                    scope.Transport = "t" + t;
                    scope.SetField("f" + t, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    scope.Call.SetVar("e_n", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    scope.CountSent();
                }
            })).ToArray();
            start.SignalAndWait();
            Assert.That(scope.Complete(), Is.True);

            await Task.WhenAll(setters).WaitAsync(Timeout);

            var hit = _harness.TakeHit();
            scope.Transport = "after";
            scope.SetField("after", "x");
            Assert.That(hit.Transport, Is.Null.Or.Matches("^t[0-2]$"));
            Assert.That(hit.Fields.Select(f => f.Key), Has.None.EqualTo("after"));
            Assert.That(hit.MessagesSent, Is.InRange(0, 300));
        }
    }

    [Test]
    public void Complete_EverySetterAfterwards_LeavesTheHitAsCompleted()
    {
        var scope = _harness.Tracker.StartCall(Action, MatomoCallKind.DuplexStreaming)!;
        scope.SetCaller(new MatomoCallerInfo { UserAgent = "ua", Language = "fr" });
        scope.Transport = "WebSockets";
        scope.SetField("method", "GET");
        scope.Call.SetVar("e_c", "before");
        scope.Call.AddCustomVariable("tenant", "acme");
        scope.CountReceived();
        scope.CountSent();
        _harness.Time.Advance(TimeSpan.FromMilliseconds(25));
        scope.Complete(new MatomoOutcome("OK", 0), new InvalidOperationException("kept"));
        var hit = _harness.TakeHit();

        _harness.Time.Advance(TimeSpan.FromSeconds(5));
        scope.SetCaller(new MatomoCallerInfo { UserAgent = "later" });
        scope.Transport = "later";
        scope.SetField("method", "POST");
        scope.SetField("late", "x");
        scope.Call.SetVar("e_c", "after");
        scope.Call.SetVar("e_a", "after");
        scope.Call.AddCustomVariable("tenant", "other");
        scope.Call.SetPerf("pf_srv", TimeSpan.FromSeconds(1));
        scope.CountReceived();
        scope.CountSent();
        scope.Complete(MatomoOutcome.Error, new TimeoutException());
        scope.Dispose();

        Assert.That(hit.Caller, Is.EqualTo(new MatomoCallerInfo { UserAgent = "ua", Language = "fr" }));
        Assert.That(hit.Transport, Is.EqualTo("WebSockets"));
        Assert.That(hit.Fields, Is.EqualTo(new[] { KeyValuePair.Create("method", "GET") }));
        Assert.That(hit.Parameters, Is.EqualTo(new[] { KeyValuePair.Create("e_c", "before") }));
        Assert.That(hit.CustomVariables, Is.EqualTo(new[] { KeyValuePair.Create("tenant", "acme") }));
        Assert.That((hit.MessagesReceived, hit.MessagesSent), Is.EqualTo((1, 1)));
        Assert.That(hit.Outcome, Is.EqualTo(new MatomoOutcome("OK", 0)));
        Assert.That(hit.ErrorType, Is.EqualTo(nameof(InvalidOperationException)));
        Assert.That(hit.Duration, Is.EqualTo(TimeSpan.FromMilliseconds(25)));
        Assert.That(hit.Timestamp, Is.EqualTo(_harness.Time.GetUtcNow() - TimeSpan.FromSeconds(5)));
        Assert.That(_harness.Queue.Waiting, Is.Zero);
    }

    [Test]
    public void Dispose_Unfinished_CompletesAsCancelled()
    {
        var scope = _harness.Tracker.StartCall(Action, MatomoCallKind.ServerStreaming)!;
        scope.CountSent();
        _harness.Time.Advance(TimeSpan.FromMilliseconds(40));

        scope.Dispose();

        var hit = _harness.TakeHit();
        Assert.That(hit.Outcome, Is.EqualTo(MatomoOutcome.Cancelled));
        Assert.That(hit.MessagesSent, Is.EqualTo(1));
        Assert.That(hit.Duration, Is.EqualTo(TimeSpan.FromMilliseconds(40)));
        Assert.That(scope.IsFinished, Is.True);
    }

    [Test]
    public void Dispose_AfterComplete_NoSecondHit()
    {
        var scope = _harness.Tracker.StartCall(Action, MatomoCallKind.Unary)!;
        scope.Complete(new MatomoOutcome("OK", 0));

        scope.Dispose();

        Assert.That(_harness.TakeHit().Outcome, Is.EqualTo(new MatomoOutcome("OK", 0)));
        Assert.That(_harness.Queue.Waiting, Is.Zero);
    }

    [Test]
    public void Dispose_Skipped_NoHit()
    {
        var scope = _harness.Tracker.StartCall(Action, MatomoCallKind.Unary)!;
        scope.Call.Skip();

        scope.Dispose();

        Assert.That(_harness.Queue.Waiting, Is.Zero);
        Assert.That(_harness.Tracker.Statistics.Queued, Is.Zero);
    }

    [Test]
    public void Call_ReadTwiceAndFromTheScope_SameObjectWithTheScopesActionAndKind()
    {
        var scope = _harness.Tracker.StartCall("/" + Action, MatomoCallKind.ClientStreaming)!;

        var call = scope.Call;

        Assert.That(scope.Call, Is.SameAs(call));
        Assert.That(call.Action, Is.EqualTo(Action));
        Assert.That(call.Kind, Is.EqualTo(MatomoCallKind.ClientStreaming));
        Assert.That(call.IsSkipped, Is.False);
    }

    [Test]
    public void StartCall_SameActionWithDifferentUrlPaths_EachHitKeepsItsOwnPath()
    {
        var first = _harness.Tracker.StartCall("GET /orders/{id}", MatomoCallKind.Http, "/orders/1")!;
        var second = _harness.Tracker.StartCall("GET /orders/{id}", MatomoCallKind.Http, "/orders/2")!;
        var third = _harness.Tracker.StartCall("GET /orders/{id}", MatomoCallKind.Http)!;

        first.Complete();
        second.Complete();
        third.Complete();

        Assert.That(new[] { _harness.TakeHit().UrlPath, _harness.TakeHit().UrlPath, _harness.TakeHit().UrlPath },
            Is.EqualTo(new[] { "/orders/1", "/orders/2", "/GET /orders/{id}" }));
    }

    [Test]
    public void StartCall_HttpKindIgnored_ReturnsNull()
    {
        using var harness = new TrackerHarness(o => o.IgnoredCallKinds.Add(MatomoCallKind.Http));

        Assert.That(harness.Tracker.StartCall("GET /health", MatomoCallKind.Http, "/health"), Is.Null);
    }

    [Test]
    public void SetField_HttpAdapter_RecordedAfterTheBuiltInFieldsWithKindHttp()
    {
        var query = _harness.Encode(
            action: "GET /orders/{id}",
            kind: MatomoCallKind.Http,
            adapter: scope =>
            {
                scope.SetField("method", "GET");
                scope.SetField("method", "POST");
                scope.SetField("route", "/orders/{id}");
                scope.SetField("route", null);
            },
            outcome: new MatomoOutcome("Not Found", 404, IsError: true));

        Assert.That(QueryText.Parse(query)["cvar"], Is.EqualTo(
            "{\"1\":[\"status\",\"Not Found (404)\"],\"2\":[\"kind\",\"http\"],\"3\":[\"method\",\"POST\"]}"));
    }

    [Test]
    public void SetField_MoreThanTheLimit_ExtraIgnored()
    {
        var scope = _harness.Tracker.StartCall(Action, MatomoCallKind.Http)!;

        for (var i = 0; i < Limits.FieldsPerCall + 3; i++)
        {
            scope.SetField("f" + i, "x");
        }

        scope.Complete();

        Assert.That(_harness.TakeHit().Fields, Has.Count.EqualTo(Limits.FieldsPerCall));
    }

    [TestCase("")]
    [TestCase(" ")]
    public void SetField_EmptyName_Throws(string name)
    {
        var scope = _harness.Tracker.StartCall(Action, MatomoCallKind.Http)!;

        Assert.That(() => scope.SetField(name, "x"), Throws.ArgumentException);
    }

    [TestCase("OK", 0, false)]
    [TestCase("Unknown", 2, true)]
    [TestCase("weird", -1, true)]
    [TestCase("max", int.MaxValue, false)]
    [TestCase("min", int.MinValue, true)]
    [TestCase("cancelled", null, true)]
    [TestCase("ok", null, false)]
    public void Complete_AnyOutcome_TheHitHasThatOutcome(string name, int? code, bool isError)
    {
        var outcome = new MatomoOutcome(name, code, isError);

        var hit = _harness.Hit(outcome: outcome);

        Assert.That(hit.Outcome, Is.EqualTo(outcome));
        Assert.That((hit.Outcome.Name, hit.Outcome.Code, hit.Outcome.IsError), Is.EqualTo((name, code, isError)));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Complete_WithException_TheHitHasItsTypeAndTheMessageOnlyWithCrashTracking(bool trackCrashes)
    {
        using var harness = new TrackerHarness(o => o.TrackCrashes = trackCrashes);

        var hit = harness.Hit(outcome: MatomoOutcome.Error, exception: new InvalidOperationException("the message"));
        var clean = harness.Hit();

        Assert.That(hit.ErrorType, Is.EqualTo(nameof(InvalidOperationException)));
        Assert.That(hit.ErrorMessage, Is.EqualTo(trackCrashes ? "the message" : null));
        Assert.That((clean.ErrorType, clean.ErrorMessage), Is.EqualTo(((string?)null, (string?)null)));
    }

    [Test]
    public void StartCall_WithCallerFromTheTracker_NoSetterRan_TheHitHasTheCaller()
    {
        // The caller is set as the scope is made (no lock), and completion takes no lock either when no setter ran.
        var caller = new MatomoCallerInfo { UserAgent = "ua", Language = "de", RemoteAddress = IPAddress.Parse("192.0.2.7") };
        var scope = _harness.Tracker.StartCall(caller, Action, MatomoCallKind.Unary, urlPath: null)!;
        _harness.Time.Advance(TimeSpan.FromMilliseconds(7));
        Assert.That(scope.Complete(), Is.True);

        var hit = _harness.TakeHit();

        Assert.That(hit.Caller, Is.EqualTo(caller));
        Assert.That(hit.Duration, Is.EqualTo(TimeSpan.FromMilliseconds(7)));
        Assert.That(hit.Timestamp, Is.EqualTo(_harness.Time.GetUtcNow()));
    }

    [Test]
    public void StartCall_WithTransport_SameHitAsSettingCallerAndTransportAfterStart()
    {
        // The fast path (caller and transport set as the scope is made, no lock) against the simple one (the setters).
        var caller = new MatomoCallerInfo { UserAgent = "ua", Language = "de", RemoteAddress = IPAddress.Parse("192.0.2.7"), VisitorKey = "connection-1" };
        var fast = _harness.Tracker.StartCall(caller, "ChatHub/Send", MatomoCallKind.HubInvocation, "/hubs/chat/Send", "WebSockets")!;
        var simple = _harness.Tracker.StartCall("ChatHub/Send", MatomoCallKind.HubInvocation, "/hubs/chat/Send")!;
        simple.SetCaller(caller);
        simple.Transport = "WebSockets";

        Assert.That(ChangedFlagSet(fast), Is.False, "nothing was set under the lock: completion takes none");
        Assert.That(ChangedFlagSet(simple), Is.True);
        fast.Complete();
        simple.Complete();
        var fastHit = _harness.TakeHit();
        var simpleHit = _harness.TakeHit();

        Assert.That(
            (fastHit.Caller, fastHit.Transport, fastHit.Action, fastHit.UrlPath, fastHit.Kind, fastHit.Outcome),
            Is.EqualTo((simpleHit.Caller, simpleHit.Transport, simpleHit.Action, simpleHit.UrlPath, simpleHit.Kind, simpleHit.Outcome)));
        Assert.That(fastHit.Transport, Is.EqualTo("WebSockets"));
    }

    [Test]
    public void StartCall_WithTransportThenSetter_TheLaterTransportWins()
    {
        var scope = _harness.Tracker.StartCall(default, Action, MatomoCallKind.HubInvocation, urlPath: null, transport: "LongPolling")!;

        scope.Transport = "WebSockets";
        scope.Complete();

        Assert.That(_harness.TakeHit().Transport, Is.EqualTo("WebSockets"));
    }

    [Test]
    public void StartCall_WithTransportCallerOptedOut_NoScopeCountedAsOptedOut()
    {
        var scope = _harness.Tracker.StartCall(new MatomoCallerInfo { OptedOut = true }, Action, MatomoCallKind.HubInvocation, urlPath: null, transport: "WebSockets");

        Assert.That(scope, Is.Null);
        Assert.That(_harness.Tracker.Statistics.OptedOut, Is.EqualTo(1));
    }

    [Test]
    public void StartCall_WithIgnoredUserAgent_SkippedAsWithSetCaller()
    {
        using var harness = new TrackerHarness(o => o.IgnoredUserAgentPatterns.Add("^kube-probe/"));
        var scope = harness.Tracker.StartCall(new MatomoCallerInfo { UserAgent = "kube-probe/1.29" }, Action, MatomoCallKind.Unary, urlPath: null)!;

        Assert.That(scope.Call.IsSkipped, Is.True);
        Assert.That(scope.Complete(), Is.False);
        Assert.That(harness.Queue.Waiting, Is.Zero);
    }

    [Test]
    public void StartCall_EqualActionsInDifferentStrings_SameRulesForEach()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.ActionDetails["greet.Greeter/SayHello"] = new Dictionary<string, string> { ["action_name"] = "Hello" };
            o.ExcludedActions.Add("greet.Greeter/Secret");
        });

        // gRPC's method is a new string per request; SignalR and HTTP keep theirs: both find the same rules.
        foreach (var action in new[] { Action, new string(Action.AsSpan()), new string(Action.AsSpan()), Action })
        {
            var hit = harness.Hit(action);
            Assert.That((hit.Action, hit.ActionName), Is.EqualTo((Action, "Hello")));
        }

        const string Secret = "greet.Greeter/Secret";
        foreach (var action in new[] { Secret, new string(Secret.AsSpan()), "/" + Secret, Secret })
        {
            Assert.That(harness.Tracker.StartCall(action, MatomoCallKind.Unary), Is.Null, action);
        }
    }

    [Test]
    public void StartCall_ManyActionsSharingCacheSlots_EachGetsItsOwnRules()
    {
        // More actions than the tracker's by-reference slots: several share one, and none may answer for another.
        var actions = Enumerable.Range(0, 200).Select(i => $"svc.S/M{i}").ToArray();
        using var harness = new TrackerHarness(o =>
        {
            foreach (var action in actions)
            {
                o.ActionDetails[action] = new Dictionary<string, string> { ["action_name"] = "name of " + action };
            }
        });

        for (var round = 0; round < 3; round++)
        {
            foreach (var action in actions)
            {
                var hit = harness.Hit(action);
                Assert.That((hit.Action, hit.ActionName), Is.EqualTo((action, "name of " + action)));
            }
        }
    }

    private static bool ChangedFlagSet(MatomoCallScope scope)
    {
        var field = typeof(MatomoCallScope).GetField("_kindAndFlags", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)
            ?? throw new InvalidOperationException("the scope's flags field was renamed");
        return ((int)field.GetValue(scope)! & (1 << 29)) != 0;
    }
}
