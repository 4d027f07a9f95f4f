using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>Sampling decided at call start: which calls are tracked, what their hits record, how they are counted.</summary>
[TestFixture]
public class MatomoSamplingTests
{
    private const string Action = "greet.Greeter/SayHello";

    /// <summary>A source that returns <paramref name="values"/> in order and fails when asked for more.</summary>
    private static SampleSource Script(params double[] values)
    {
        var queue = new Queue<double>(values);
        return new SampleSource(() => queue.TryDequeue(out var value) ? value : throw new AssertionException("the sampling source was asked once too often"));
    }

    private static MatomoCallScope? Start(TrackerHarness harness, string action = Action) => harness.Tracker.StartCall(action, MatomoCallKind.Unary);

    [Test]
    public void StartCall_RateBelowOne_TracksTheCallsWhoseNumberIsBelowTheRate()
    {
        using var harness = new TrackerHarness(o => { o.Sampling.Rate = 0.25; o.Sampling.KeepErrors = false; }, samples: Script(0.1, 0.25, 0.9, 0.2499));

        var scopes = Enumerable.Range(0, 4).Select(_ => Start(harness)).ToList();

        Assert.That(scopes.Select(s => s is not null), Is.EqualTo(new[] { true, false, false, true }));
        Assert.That(harness.Tracker.Statistics.SampledOut, Is.EqualTo(2));
    }

    [Test]
    public void StartCall_RateOne_AsksNoRandomNumber()
    {
        using var harness = new TrackerHarness(samples: Script());

        Assert.That(Start(harness), Is.Not.Null);
        Assert.That(harness.Tracker.Statistics.SampledOut, Is.Zero);
    }

    [Test]
    public void StartCall_RateZeroKeepErrorsOff_NullLikeAnExcludedCall()
    {
        using var harness = new TrackerHarness(o => { o.Sampling.Rate = 0; o.Sampling.KeepErrors = false; }, samples: Script(0.0));

        Assert.That(Start(harness), Is.Null);
        Assert.That(harness.Tracker.Statistics, Is.EqualTo(new MatomoStatistics(0, 0, 0, 0, 0, 0) { SampledOut = 1 }));
    }

    [Test]
    public void StartCall_ExcludedAction_NotCountedAsSampledOut()
    {
        using var harness = new TrackerHarness(o => { o.Sampling.Rate = 0; o.Sampling.KeepErrors = false; o.ExcludedActions.Add(Action); }, samples: Script());

        Assert.That(Start(harness), Is.Null);
        Assert.That(harness.Tracker.Statistics.SampledOut, Is.Zero);
    }

    [TestCase("greet.Greeter/SayHello", 0.5)]
    [TestCase("greet.Greeter/SayHelloStream", 0.2)]
    [TestCase("greet.Greeter/Other", 0.1)]
    [TestCase("greet.Farewell/Bye", 0.9)]
    [TestCase("ChatHub/Send", 0.9)]
    public void StartCall_PerActionRates_ExactThenLongestPrefixThenGlobal(string action, double expected)
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Sampling.Rate = 0.9;
            o.Sampling.Actions["/greet.Greeter/SayHello"] = 0.5;
            o.Sampling.Actions["greet.Greeter/*"] = 0.1;
            o.Sampling.Actions["greet.Greeter/SayHelloS*"] = 0.2;
        }, samples: Script(0.0));

        var hit = harness.Hit(action);

        Assert.That(hit.SampleRate, Is.EqualTo(expected));
    }

    [Test]
    public void StartCall_ActionRateOne_TrackedAlthoughGlobalRateIsZero()
    {
        using var harness = new TrackerHarness(o => { o.Sampling.Rate = 0; o.Sampling.Actions[Action] = 1; }, samples: Script());

        var hit = harness.Hit(Action);

        Assert.That(hit.SampleRate, Is.EqualTo(1));
        Assert.That(harness.Encode(action: Action), Does.Not.Contain("sample"));
    }

    [Test]
    public void Complete_SampledCall_HitRecordsTheRateAsThirdVariable()
    {
        using var harness = new TrackerHarness(o => o.Sampling.Rate = 0.25, samples: Script(0.0));

        var query = harness.Encode(kind: MatomoCallKind.ServerStreaming);

        Assert.That(QueryText.Parse(query)["cvar"],
            Is.EqualTo("""{"1":["status","ok"],"2":["kind","server_streaming"],"3":["sample","0.25"],"4":["messages","in=0 out=0"]}"""));
    }

    [Test]
    public void Complete_SampledCall_RateInItsDimension()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Sampling.Actions[Action] = 0.1;
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Outcome = 1;
            o.Dimensions.SampleRate = 7;
        }, samples: Script(0.05));

        var query = harness.Encode();

        Assert.That(QueryText.Parse(query)["dimension7"], Is.EqualTo("0.1"));
        Assert.That(QueryText.Parse(query)["dimension1"], Is.EqualTo("ok"));
    }

    [Test]
    public void Complete_UnsampledCallKeepErrorsOk_NoHitCountedSampledOut()
    {
        using var harness = new TrackerHarness(o => o.Sampling.Rate = 0.25, samples: Script(0.5));
        var scope = Start(harness);

        Assert.That(scope, Is.Not.Null, "with KeepErrors an unsampled call keeps a scope to see its outcome");
        Assert.That(scope!.Complete(), Is.False);
        Assert.That(harness.Queue.Count, Is.Zero);
        Assert.That(harness.Tracker.Statistics.SampledOut, Is.EqualTo(1));
        Assert.That(harness.Tracker.Statistics.Queued, Is.Zero);
    }

    [Test]
    public void Complete_UnsampledCallKeepErrorsFailed_HitKeptWithoutRate()
    {
        using var harness = new TrackerHarness(o => o.Sampling.Rate = 0.25, samples: Script(0.5));
        var scope = Start(harness)!;
        scope.SetCaller(TrackerHarness.DefaultCaller);
        scope.Call.SetVar("e_c", "orders");

        Assert.That(scope.Complete(new MatomoOutcome("NotFound", 5, IsError: true), new InvalidOperationException("x")), Is.True);

        var hit = harness.TakeHit();
        Assert.That(hit.SampleRate, Is.EqualTo(1), "every failed call is kept: it stands for itself");
        var query = harness.Encoder().Encode(hit);
        Assert.That(QueryText.Parse(query)["cvar"], Is.EqualTo("""{"1":["status","NotFound (5)"],"2":["kind","unary"],"3":["error","InvalidOperationException"]}"""));
        Assert.That(QueryText.Parse(query)["e_c"], Is.EqualTo("orders"), "what service code set on the unsampled call is kept for its error hit");
        Assert.That(harness.Tracker.Statistics.SampledOut, Is.Zero);
    }

    [Test]
    public void Dispose_UnsampledCallNeverCompleted_KeptAsCancelled()
    {
        using var harness = new TrackerHarness(o => o.Sampling.Rate = 0.5, samples: Script(0.9));

        Start(harness)!.Dispose();

        Assert.That(harness.TakeHit().Outcome, Is.EqualTo(MatomoOutcome.Cancelled));
    }

    [Test]
    public void Complete_UnsampledCallSkipped_NeitherHitNorSampledOut()
    {
        using var harness = new TrackerHarness(o => o.Sampling.Rate = 0.5, samples: Script(0.9));
        var scope = Start(harness)!;

        scope.Call.Skip();

        Assert.That(scope.Complete(MatomoOutcome.Error), Is.False);
        Assert.That(harness.Tracker.Statistics, Is.EqualTo(new MatomoStatistics(0, 0, 0, 0, 0, 0)));
    }

    [Test]
    public void Complete_SampledCallFailedKeepErrors_RecordsNoRate()
    {
        using var harness = new TrackerHarness(o => o.Sampling.Rate = 0.25, samples: Script(0.1));

        var hit = harness.Hit(outcome: MatomoOutcome.Error);

        Assert.That(hit.SampleRate, Is.EqualTo(1));
        Assert.That(harness.Encoder().Encode(hit), Does.Not.Contain("sample"));
    }

    [Test]
    public void Complete_SampledCallFailedKeepErrorsOff_RecordsItsRate()
    {
        using var harness = new TrackerHarness(o => { o.Sampling.Rate = 0.25; o.Sampling.KeepErrors = false; }, samples: Script(0.1));

        var hit = harness.Hit(outcome: MatomoOutcome.Error);

        Assert.That(hit.SampleRate, Is.EqualTo(0.25));
        Assert.That(QueryText.Parse(harness.Encoder().Encode(hit))["cvar"], Does.Contain("""["sample","0.25"]"""));
    }

    [Test]
    public void Statistics_SeededCalls_EveryCallQueuedOrSampledOut()
    {
        const int calls = 2000;
        using var harness = new TrackerHarness(o => { o.Sampling.Rate = 0.25; o.Sending.QueueCapacity = calls; }, samples: SampleSource.Seeded(42));
        var failed = 0;

        for (var i = 0; i < calls; i++)
        {
            var scope = Start(harness)!;
            var fails = i % 10 == 0;
            failed += fails ? 1 : 0;
            scope.Complete(fails ? MatomoOutcome.Error : MatomoOutcome.Ok);
        }

        var stats = harness.Tracker.Statistics;
        Assert.That(stats.Queued + stats.SampledOut, Is.EqualTo(calls));
        var okQueued = stats.Queued - failed;
        Assert.That(okQueued, Is.InRange(0.2 * (calls - failed), 0.3 * (calls - failed)), "about a quarter of the calls that succeeded");
    }
}
