using Matomo.Rpc.SignalR.Tests.Support;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR.Tests;

public sealed class MatomoHubCallerContextExtensionsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static readonly Action<HubCallerContext>[] Uses =
    [
        c => c.SetMatomoVar("dimension1", "x"),
        c => c.AddMatomoCustomVariable("name", "x"),
        c => c.MeasureMatomoPerf().Dispose(),
        c => c.SkipMatomoTracking(),
        c => c.GetMatomoCall(),
    ];

    private FilterHarness _harness = null!;

    [SetUp]
    public async Task StartAsync() => _harness = await FilterHarness.StartAsync(o => o.ExcludedActions.Add("ChatHub/Excluded"));

    [TearDown]
    public async Task StopAsync() => await _harness.DisposeAsync();

    [TestCaseSource(nameof(Uses))]
    public void Extension_ConnectionTheFilterNeverSaw_ThrowsInvalidOperationException(Action<HubCallerContext> use)
    {
        var context = new FakeHubCallerContext();

        var ex = Assert.Throws<InvalidOperationException>(() => use(context));

        Assert.That(ex!.Message, Does.Contain("AddFilter<MatomoHubFilter>"));
    }

    [TestCaseSource(nameof(Uses))]
    public async Task Extension_InsideAnExcludedInvocation_IsIgnored(Action<HubCallerContext> use)
    {
        var context = new FakeHubCallerContext();
        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ => Task.CompletedTask).WaitAsync(Timeout);
        Exception? thrown = null;

        await _harness.Filter.InvokeMethodAsync(_harness.Invocation(context, "Excluded"), _ =>
        {
            try
            {
                use(context);
            }
            catch (Exception ex)
            {
                thrown = ex;
            }

            return ValueTask.FromResult<object?>(null);
        }).AsTask().WaitAsync(Timeout);

        Assert.That(thrown, Is.Null);
    }

    [Test]
    public async Task GetMatomoCall_InsideATrackedInvocation_ReturnsThatInvocationsCall()
    {
        var context = new FakeHubCallerContext();
        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ => Task.CompletedTask).WaitAsync(Timeout);
        MatomoCall? seen = null;

        await _harness.Filter.InvokeMethodAsync(_harness.Invocation(context, "Echo", "x"), _ =>
        {
            seen = context.GetMatomoCall();
            return ValueTask.FromResult<object?>("x");
        }).AsTask().WaitAsync(Timeout);

        Assert.That(seen, Is.Not.Null);
        Assert.That(seen!.Action, Is.EqualTo("ChatHub/Echo"));
        Assert.That(seen.Kind, Is.EqualTo(MatomoCallKind.HubInvocation));
        seen.SetVar("e_n", "after the end");
        var hits = await _harness.Sink.WaitForHitsAsync(2, Timeout);
        Assert.That(hits.Single(h => h.Hit.Action == "ChatHub/Echo")["e_n"], Is.Null, "completed when the invocation ended: later changes are ignored");
    }

    [Test]
    public async Task SetMatomoVar_WithAnotherConnectionsContextInsideAnInvocation_ThrowsInvalidOperationException()
    {
        var context = new FakeHubCallerContext("a");
        var other = new FakeHubCallerContext("b");
        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ => Task.CompletedTask).WaitAsync(Timeout);
        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(other), _ => Task.CompletedTask).WaitAsync(Timeout);
        Exception? thrown = null;

        await _harness.Filter.InvokeMethodAsync(_harness.Invocation(context, "Echo", "x"), _ =>
        {
            thrown = Assert.Throws<InvalidOperationException>(() => other.SetMatomoVar("dimension1", "x"));
            return ValueTask.FromResult<object?>("x");
        }).AsTask().WaitAsync(Timeout);

        Assert.That(thrown, Is.InstanceOf<InvalidOperationException>());
    }

    [Test]
    public async Task SetMatomoVar_AfterTheInvocationReturned_DoesNotReachTheCallOrThrow()
    {
        var context = new FakeHubCallerContext();
        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ => Task.CompletedTask).WaitAsync(Timeout);
        await _harness.Sink.WaitForHitsAsync(1, Timeout);

        await _harness.Filter.InvokeMethodAsync(_harness.Invocation(context, "Echo", "x"), _ => ValueTask.FromResult<object?>("x")).AsTask().WaitAsync(Timeout);
        context.SetMatomoVar("dimension1", "late");

        var hits = await _harness.Sink.WaitForHitsAsync(2, Timeout);
        Assert.That(hits[1]["action_name"], Is.EqualTo("ChatHub/Echo"));
        Assert.That(hits[1]["dimension1"], Is.Null);
    }

    [Test]
    public async Task SetMatomoVar_ReservedParameter_ThrowsArgumentException()
    {
        var context = new FakeHubCallerContext();
        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ => Task.CompletedTask).WaitAsync(Timeout);
        Exception? thrown = null;

        await _harness.Filter.InvokeMethodAsync(_harness.Invocation(context, "Echo", "x"), _ =>
        {
            thrown = Assert.Throws<ArgumentException>(() => context.SetMatomoVar("idsite", "2"));
            return ValueTask.FromResult<object?>("x");
        }).AsTask().WaitAsync(Timeout);

        Assert.That(thrown, Is.InstanceOf<ArgumentException>());
    }
}
