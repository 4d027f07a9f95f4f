using Matomo.Rpc.SignalR.Tests.Support;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR.Tests;

/// <summary>The filter driven directly: exact exceptions, connection duration on a fake clock, disconnect errors.</summary>
public sealed class MatomoHubFilterUnitTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private FilterHarness _harness = null!;

    [SetUp]
    public async Task StartAsync() => _harness = await FilterHarness.StartAsync(o => o.ExcludedActions.Add("ChatHub/Excluded"));

    [TearDown]
    public async Task StopAsync() => await _harness.DisposeAsync();

    [Test]
    public async Task InvokeMethodAsync_HubThrows_RethrowsTheSameExceptionInstanceAndRecordsItsType()
    {
        var context = new FakeHubCallerContext();
        var thrown = new HubException("denied");

        var caught = Assert.ThrowsAsync<HubException>(() =>
            _harness.Filter.InvokeMethodAsync(_harness.Invocation(context, "Echo", "x"), _ => throw thrown).AsTask().WaitAsync(Timeout));

        var hit = (await _harness.Sink.WaitForHitsAsync(1, Timeout))[0];
        Assert.That(caught, Is.SameAs(thrown));
        Assert.That(hit.Hit.Outcome, Is.EqualTo(MatomoOutcome.Error));
        Assert.That(hit.Hit.ErrorType, Is.EqualTo("HubException"));
    }

    [TestCase("Excluded")]
    [TestCase("Echo")]
    public void InvokeMethodAsync_PipelineThrowsSynchronously_RunsItOnceAndRethrowsTheSameException(string method)
    {
        var context = new FakeHubCallerContext();
        var thrown = new InvalidOperationException("sync");
        var runs = 0;

        var caught = Assert.ThrowsAsync<InvalidOperationException>(async () =>
            await _harness.Filter.InvokeMethodAsync(_harness.Invocation(context, method), _ =>
            {
                runs++;
                throw thrown;
            }).AsTask().WaitAsync(Timeout));

        Assert.That(caught, Is.SameAs(thrown));
        Assert.That(runs, Is.EqualTo(1));
    }

    [Test]
    public async Task InvokeMethodAsync_CancelledWhileTheConnectionAborts_RecordsCancelled()
    {
        var context = new FakeHubCallerContext();

        Assert.ThrowsAsync<OperationCanceledException>(() =>
            _harness.Filter.InvokeMethodAsync(_harness.Invocation(context, "Echo", "x"), _ =>
            {
                context.Abort();
                throw new OperationCanceledException(context.ConnectionAborted);
            }).AsTask().WaitAsync(Timeout));

        var hit = (await _harness.Sink.WaitForHitsAsync(1, Timeout))[0];
        Assert.That(hit.Hit.Outcome, Is.EqualTo(MatomoOutcome.Cancelled));
        Assert.That(hit.Hit.ErrorType, Is.Null);
    }

    [Test]
    public async Task OnDisconnectedAsync_AfterAMinute_SendsTheDurationInWholeSecondsAndTheErrorType()
    {
        var context = new FakeHubCallerContext();
        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ => Task.CompletedTask).WaitAsync(Timeout);
        _harness.Time.Advance(TimeSpan.FromSeconds(65.9));

        await _harness.Filter.OnDisconnectedAsync(_harness.Lifetime(context), new IOException("reset"), (_, _) => Task.CompletedTask).WaitAsync(Timeout);

        var hits = await _harness.Sink.WaitForHitsAsync(2, Timeout);
        var disconnect = hits.Single(h => h["e_a"] == "disconnect");
        Assert.That(disconnect["e_c"], Is.EqualTo("ChatHub"));
        Assert.That(disconnect["e_v"], Is.EqualTo("65"));
        Assert.That(disconnect["action_name"], Is.EqualTo("ChatHub/disconnect"));
        Assert.That(disconnect.Hit.ErrorType, Is.EqualTo("IOException"));
        Assert.That(disconnect.Hit.Outcome, Is.EqualTo(MatomoOutcome.Error));
        Assert.That(disconnect["pf_srv"], Is.Null);
        Assert.That(disconnect["e_n"], Is.Null, "no transport feature, no event name");
    }

    [Test]
    public async Task OnConnectedAsync_HubSetsAVariable_ItBelongsToTheConnectEvent()
    {
        var context = new FakeHubCallerContext();

        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ =>
        {
            context.SetMatomoVar("dimension2", "joined");
            return Task.CompletedTask;
        }).WaitAsync(Timeout);

        var hit = (await _harness.Sink.WaitForHitsAsync(1, Timeout))[0];
        Assert.That(hit["e_a"], Is.EqualTo("connect"));
        Assert.That(hit["dimension2"], Is.EqualTo("joined"));
    }

    [Test]
    public async Task OnConnectedAsync_HubRejectsTheConnection_RethrowsAndRecordsTheError()
    {
        var context = new FakeHubCallerContext();
        var thrown = new UnauthorizedAccessException("no");

        var caught = Assert.ThrowsAsync<UnauthorizedAccessException>(() =>
            _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ => Task.FromException(thrown)).WaitAsync(Timeout));

        var hit = (await _harness.Sink.WaitForHitsAsync(1, Timeout))[0];
        Assert.That(caught, Is.SameAs(thrown));
        Assert.That(hit.Hit.ErrorType, Is.EqualTo("UnauthorizedAccessException"));
    }
}
