using System.Collections.Concurrent;
using Matomo.Rpc.Internal;
using Matomo.Rpc.TestSupport;

namespace Matomo.Rpc.Shared.Tests;

[TestFixture]
public class MatomoCallTests
{
    private TrackerHarness _harness = null!;

    [SetUp]
    public void SetUp() => _harness = new TrackerHarness();

    [TearDown]
    public void TearDown() => _harness.Dispose();

    private MatomoCallScope Start(MatomoCallKind kind = MatomoCallKind.Unary) => _harness.Tracker.StartCall("greet.Greeter/SayHello", kind)!;

    [TestCaseSource(typeof(ReservedNames), nameof(ReservedNames.PerCall))]
    public void SetVar_ReservedName_ThrowsArgumentExceptionWithoutValue(string name)
    {
        var scope = Start();
        var call = scope.Call;

        var ex = Assert.Throws<ArgumentException>(() => call.SetVar(name, "secret-value-123"));

        Assert.That(ex!.ParamName, Is.EqualTo("name"));
        Assert.That(ex.Message, Does.Contain(name));
        Assert.That(ex.Message, Does.Not.Contain("secret-value-123"));
    }

    [TestCase("")]
    [TestCase(" ")]
    [TestCase("a b")]
    [TestCase("a&b")]
    [TestCase("a=b")]
    // PHP's parse_str, which reads every hit Matomo gets, turns '.' (and a lone '[') into '_' and "x[...]" into an array:
    // Matomo would read a name other than the one set, e.g. "pf.srv" as pf_srv, past the pf_* and reserved-name checks.
    [TestCase("pf.srv")]
    [TestCase("token.auth")]
    [TestCase(".id")]
    [TestCase("e_c[]")]
    [TestCase("a[b]")]
    [TestCase("url[")]
    public void SetVar_NotAParameterName_Throws(string name)
    {
        var scope = Start();
        var call = scope.Call;

        Assert.Throws<ArgumentException>(() => call.SetVar(name, "v"));
    }

    [Test]
    public void SetVar_NullName_ThrowsArgumentNull()
    {
        var scope = Start();
        var call = scope.Call;

        Assert.Throws<ArgumentNullException>(() => call.SetVar(null!, "v"));
    }

    [TestCase("cid", "xyz")]
    [TestCase("cid", "0123456789abcdeg")]
    [TestCase("cid", "0123456789abcdef0")]
    [TestCase("_id", "0123")]
    [TestCase("pf_srv", "12.5")]
    [TestCase("pf_srv", "-1")]
    [TestCase("pf_srv", "16777216")]
    [TestCase("pf_net", "fast")]
    public void SetVar_ValueMatomoRefuses_ThrowsArgumentException(string name, string value)
    {
        var scope = Start();
        var call = scope.Call;

        var ex = Assert.Throws<ArgumentException>(() => call.SetVar(name, value));

        Assert.That(ex!.ParamName, Is.EqualTo("value"));
    }

    [TestCase("cid", "0123456789ABCDEF")]
    [TestCase("_id", "0123456789abcdef")]
    [TestCase("pf_srv", "0")]
    [TestCase("pf_srv", "16777215")]
    [TestCase("uid", "any user")]
    [TestCase("dimension3", "x")]
    public void SetVar_ValueMatomoAccepts_Kept(string name, string value)
    {
        var scope = Start();
        var call = scope.Call;

        call.SetVar(name, value);
        scope.Complete();

        Assert.That(_harness.TakeHit().Parameters, Does.Contain(new KeyValuePair<string, string>(name, value)));
    }

    [Test]
    public void SetVar_SameNameTwiceAndNull_LastWinsNullRemoves()
    {
        var scope = Start();
        var call = scope.Call;

        call.SetVar("e_c", "a");
        call.SetVar("e_c", "b");
        call.SetVar("e_n", "x");
        call.SetVar("e_n", null);
        scope.Complete();

        Assert.That(_harness.TakeHit().Parameters, Is.EqualTo(new[] { new KeyValuePair<string, string>("e_c", "b") }));
    }

    [TestCase("srv")]
    [TestCase("PF_SRV")]
    [TestCase("gt_ms")]
    public void MeasurePerf_NotAPfName_Throws(string name)
    {
        var scope = Start();
        var call = scope.Call;

        Assert.Throws<ArgumentException>(() => call.MeasurePerf(name));
    }

    [Test]
    public void MeasurePerf_Disposed_RecordsWholeMilliseconds()
    {
        var scope = Start();
        var call = scope.Call;

        using (call.MeasurePerf("pf_tfr"))
        {
            _harness.Time.Advance(TimeSpan.FromMilliseconds(30.4));
        }

        scope.Complete();

        Assert.That(_harness.TakeHit().Parameters, Does.Contain(new KeyValuePair<string, string>("pf_tfr", "30")));
    }

    [Test]
    public void Skip_ThenComplete_NoHitQueued()
    {
        var scope = Start();
        var call = scope.Call;

        call.Skip();
        var queued = scope.Complete();

        Assert.That(queued, Is.False);
        Assert.That(call.IsSkipped, Is.True);
        Assert.That(scope.IsFinished, Is.True);
        Assert.That(_harness.Queue.Count, Is.Zero);
    }

    [Test]
    public void Complete_Twice_OneHit()
    {
        var scope = Start();

        var first = scope.Complete(MatomoOutcome.Ok);
        var second = scope.Complete(MatomoOutcome.Error);

        Assert.That(first, Is.True);
        Assert.That(second, Is.False);
        Assert.That(_harness.Queue.Count, Is.EqualTo(1));
        Assert.That(_harness.TakeHit().Outcome, Is.EqualTo(MatomoOutcome.Ok));
    }

    [Test]
    public async Task Complete_ConcurrentFromManyTasks_ExactlyOneHit()
    {
        var scope = Start();
        using var gate = new ManualResetEventSlim();

        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(() =>
        {
            gate.Wait();
            return scope.Complete();
        }).WaitAsync(TimeSpan.FromSeconds(10))).Append(Task.Run(() =>
        {
            gate.Set();
            return false;
        })));

        Assert.That(results.Count(r => r), Is.EqualTo(1));
        Assert.That(_harness.Queue.Count, Is.EqualTo(1));
    }

    [Test]
    public void SetVar_AfterComplete_HitUnchanged()
    {
        var scope = Start();
        var call = scope.Call;
        call.SetVar("e_c", "before");
        scope.Complete();

        call.SetVar("e_c", "after");
        call.AddCustomVariable("late", "x");

        var hit = _harness.TakeHit();
        Assert.That(hit.Parameters, Is.EqualTo(new[] { new KeyValuePair<string, string>("e_c", "before") }));
        Assert.That(hit.CustomVariables, Is.Empty);
    }

    [Test]
    public async Task SetVarAndCount_ConcurrentFromManyTasks_NothingLost()
    {
        var scope = Start(MatomoCallKind.DuplexStreaming);
        var call = scope.Call;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 1000; i++)
            {
                scope.CountSent();
                scope.CountReceived();
                call.SetVar("e_n", i.ToString());
                call.AddCustomVariable("v" + t, i.ToString());
            }

            for (var n = 0; n < 5; n++)
            {
                call.SetVar($"dimension{(t * 5) + n + 1}", "x");
            }
        }))).WaitAsync(TimeSpan.FromSeconds(20));
        scope.Complete();

        var hit = _harness.TakeHit();
        Assert.That(hit.MessagesSent, Is.EqualTo(8000));
        Assert.That(hit.MessagesReceived, Is.EqualTo(8000));
        Assert.That(hit.Parameters, Has.Count.EqualTo(41));
        Assert.That(hit.CustomVariables.Select(v => v.Key), Is.EquivalentTo(Enumerable.Range(0, 8).Select(t => "v" + t)));
        Assert.That(hit.CustomVariables.Select(v => v.Value), Has.All.EqualTo("999"));
    }

    [Test]
    public void SetVar_MoreThanLimit_ExtraIgnored()
    {
        var scope = Start();
        var call = scope.Call;

        for (var i = 0; i < Limits.ParametersPerCall + 5; i++)
        {
            call.SetVar("dimension" + i, "x");
        }

        for (var i = 0; i < Limits.CustomVariablesPerCall + 5; i++)
        {
            call.AddCustomVariable("c" + i, "x");
        }

        scope.Complete();

        var hit = _harness.TakeHit();
        Assert.That(hit.Parameters, Has.Count.EqualTo(Limits.ParametersPerCall));
        Assert.That(hit.CustomVariables, Has.Count.EqualTo(Limits.CustomVariablesPerCall));
        Assert.That(hit.Parameters[0].Key, Is.EqualTo("dimension0"));
    }

    [Test]
    public void SetVar_LongValue_CutAt1024()
    {
        var scope = Start();
        var call = scope.Call;

        call.SetVar("e_n", new string('x', 5000));
        scope.Complete();

        Assert.That(_harness.TakeHit().Parameters[0].Value, Has.Length.EqualTo(1024));
    }

    [Test]
    public void AddCustomVariable_EmptyName_Throws()
    {
        var scope = Start();
        var call = scope.Call;

        Assert.Throws<ArgumentException>(() => call.AddCustomVariable(" ", "v"));
    }

    [Test]
    public void SetCaller_IgnoredUserAgent_Skips()
    {
        using var harness = new TrackerHarness(o => o.IgnoredUserAgentPatterns.Add("^kube-probe/"));
        var scope = harness.Tracker.StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary)!;
        var other = harness.Tracker.StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary)!;

        scope.SetCaller(new MatomoCallerInfo { UserAgent = "kube-probe/1.29" });
        other.SetCaller(new MatomoCallerInfo { UserAgent = "grpc-dotnet/2.80" });

        Assert.That(scope.Call.IsSkipped, Is.True);
        Assert.That(other.Call.IsSkipped, Is.False);
    }

    [Test]
    public void Complete_ExceptionWithoutCrashTracking_TypeOnly()
    {
        var scope = Start();

        scope.Complete(MatomoOutcome.Error, new InvalidOperationException("details"));

        var hit = _harness.TakeHit();
        Assert.That(hit.ErrorType, Is.EqualTo("InvalidOperationException"));
        Assert.That(hit.ErrorMessage, Is.Null);
    }

    [Test]
    public void Complete_ExceptionWithCrashTracking_KeepsMessage()
    {
        using var harness = new TrackerHarness(o => o.TrackCrashes = true);
        var scope = harness.Tracker.StartCall("a/b", MatomoCallKind.Unary)!;

        scope.Complete(MatomoOutcome.Error, new InvalidOperationException("details"));

        Assert.That(harness.TakeHit().ErrorMessage, Is.EqualTo("details"));
    }

    [Test]
    public void Complete_Always_StampsEndTimeAndDuration()
    {
        var scope = Start();
        _harness.Time.Advance(TimeSpan.FromMilliseconds(250));

        scope.Complete();

        var hit = _harness.TakeHit();
        Assert.That(hit.Duration, Is.EqualTo(TimeSpan.FromMilliseconds(250)));
        Assert.That(hit.Timestamp, Is.EqualTo(TrackerHarness.Start.AddMilliseconds(250)));
    }

    [Test]
    public void Complete_QueueFull_ReturnsFalseAndCountsDrop()
    {
        using var harness = new TrackerHarness(o => o.Sending.QueueCapacity = 1);
        harness.Tracker.StartCall("a/b", MatomoCallKind.Unary)!.Complete();
        var scope = harness.Tracker.StartCall("a/b", MatomoCallKind.Unary)!;

        var queued = scope.Complete();

        Assert.That(queued, Is.False);
        Assert.That(harness.Tracker.Statistics.Dropped, Is.EqualTo(1));
        Assert.That(harness.Tracker.Statistics.Queued, Is.EqualTo(1));
    }
}
