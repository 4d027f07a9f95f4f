using Matomo.Rpc.SignalR.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR.Tests;

/// <summary>The excluded and opted-out paths cost no allocation: counted on the current thread, not timed.</summary>
public sealed class MatomoHubFilterAllocationTests
{
    private const int Calls = 1000;

    private static readonly Func<HubInvocationContext, ValueTask<object?>> UseApiAndReturn = static invocation =>
    {
        invocation.Context.SetMatomoVar("dimension1", "x");
        invocation.Context.SkipMatomoTracking();
        return ValueTask.FromResult<object?>(null);
    };

    private FilterHarness _harness = null!;
    private int _incomplete;

    [SetUp]
    public async Task StartAsync() => _harness = await FilterHarness.StartAsync(o => o.ExcludedActions.Add("ChatHub/Excluded"));

    [TearDown]
    public async Task StopAsync() => await _harness.DisposeAsync();

    [Test]
    public async Task InvokeMethodAsync_ExcludedAction_AllocatesNothingIncludingThePerInvocationApi()
    {
        var context = new FakeHubCallerContext();
        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ => Task.CompletedTask).WaitAsync(TimeSpan.FromSeconds(10));
        var invocation = _harness.Invocation(context, "Excluded");
        RunExcluded(invocation, Calls);

        var before = GC.GetAllocatedBytesForCurrentThread();
        RunExcluded(invocation, Calls);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(_incomplete, Is.Zero);
        Assert.That(allocated, Is.Zero);
    }

    [TestCase("Sec-GPC")]
    [TestCase("DNT")]
    public async Task InvokeMethodAsync_OptedOutConnection_AllocatesNothingAndCountsEveryCall(string header)
    {
        var http = new DefaultHttpContext();
        http.Request.Headers[header] = "1";
        var context = new FakeHubCallerContext();
        context.Features.Set<IHttpContextFeature>(new RequestFeature(http));
        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ => Task.CompletedTask).WaitAsync(TimeSpan.FromSeconds(10));
        var invocation = _harness.Invocation(context, "Echo", "x");
        RunTracked(invocation, Calls);

        var before = GC.GetAllocatedBytesForCurrentThread();
        RunTracked(invocation, Calls);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(_incomplete, Is.Zero);
        Assert.That(allocated, Is.Zero);
        Assert.That(_harness.Tracker.Statistics.OptedOut, Is.EqualTo(1 + (2 * Calls)), "the connect event and every invocation");
        Assert.That(_harness.Tracker.Statistics.Queued, Is.Zero);
    }

    [Test]
    public async Task InvokeMethodAsync_TrackedAction_ReportsTheBytesAllocatedPerInvocation()
    {
        var context = new FakeHubCallerContext();
        await _harness.Filter.OnConnectedAsync(_harness.Lifetime(context), _ => Task.CompletedTask).WaitAsync(TimeSpan.FromSeconds(10));
        var invocation = _harness.Invocation(context, "Echo", "x");
        RunTracked(invocation, 100);

        var before = GC.GetAllocatedBytesForCurrentThread();
        RunTracked(invocation, Calls);
        var perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / Calls;

        TestContext.Out.WriteLine($"Tracked invocation (skipped by hub code): {perCall} bytes allocated per call");
        Assert.That(_incomplete, Is.Zero);
        Assert.That(perCall, Is.InRange(1, 2048), "a tracked call has its scope, and no more than a small one");
    }

    private void RunExcluded(HubInvocationContext invocation, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            if (!_harness.Filter.InvokeMethodAsync(invocation, UseApiAndReturn).IsCompletedSuccessfully)
            {
                _incomplete++;
            }
        }
    }

    private void RunTracked(HubInvocationContext invocation, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            if (!_harness.Filter.InvokeMethodAsync(invocation, UseApiAndReturn).IsCompletedSuccessfully)
            {
                _incomplete++;
            }
        }
    }

    private sealed class RequestFeature(HttpContext httpContext) : IHttpContextFeature
    {
        public HttpContext? HttpContext { get; set; } = httpContext;
    }
}
