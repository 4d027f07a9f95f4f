using System.Reflection;
using BenchmarkDotNet.Attributes;
using Matomo.Rpc.SignalR;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// MatomoHubFilter around a hub method invocation on a connected connection (OnConnectedAsync ran, as in an app),
/// against the invocation without the filter, and left out by sampling (rate 0) with KeepErrors off (target 0 B, as
/// excluded) and on (an errors-only scope, measured). The queue is drained after each invocation.
/// </summary>
[MemoryDiagnoser]
public class HubFilterBenchmarks
{
    // Stands for SignalR's own last step (invoking the hub method): returns the argument, as ChatHub.Send does.
    private static readonly Func<HubInvocationContext, ValueTask<object?>> Next = c => ValueTask.FromResult(c.HubMethodArguments[0]);

    private BenchmarkTracker _tracker = null!;
    private MatomoHubFilter _filter = null!;
    private HubInvocationContext _tracked = null!;
    private HubInvocationContext _excluded = null!;
    private HubInvocationContext _unsampled = null!;
    private BenchmarkTracker _keepErrorsTracker = null!;
    private MatomoHubFilter _keepErrorsFilter = null!;
    private HubInvocationContext _unsampledKeepErrors = null!;
    private HubInvocationContext _optedOut = null!;

    [GlobalSetup]
    public void Setup()
    {
        _tracker = new BenchmarkTracker(o => o.IgnoredCallKinds.Add(MatomoCallKind.HubConnect));
        _filter = new MatomoHubFilter(_tracker.Tracker, NullLogger<MatomoHubFilter>.Instance);
        var http = FakeServerCallContext.CreateHttpContext("/chat");
        http.Request.Protocol = "HTTP/1.1";
        http.Request.Method = "GET";
        var connection = new FakeHubCallerContext("bH8Q1pX3dVyZ0s2fK9wRjA", http);
        var hub = new ChatHub();
        var services = _tracker.Services;
        _filter.OnConnectedAsync(new HubLifetimeContext(connection, services, hub), _ => Task.CompletedTask).GetAwaiter().GetResult();
        _tracked = new HubInvocationContext(connection, services, hub, typeof(ChatHub).GetMethod(nameof(ChatHub.Send))!, ["hello"]);
        _excluded = new HubInvocationContext(connection, services, hub, typeof(ChatHub).GetMethod(nameof(ChatHub.Excluded))!, ["hello"]);
        _unsampled = new HubInvocationContext(connection, services, hub, typeof(ChatHub).GetMethod(nameof(ChatHub.Unsampled))!, ["hello"]);

        _keepErrorsTracker = new BenchmarkTracker(o =>
        {
            o.IgnoredCallKinds.Add(MatomoCallKind.HubConnect);
            o.Sampling.KeepErrors = true;
        });
        _keepErrorsFilter = new MatomoHubFilter(_keepErrorsTracker.Tracker, NullLogger<MatomoHubFilter>.Instance);
        var keepErrorsConnection = new FakeHubCallerContext("keep-errors-connection", http);
        var keepErrorsServices = _keepErrorsTracker.Services;
        _keepErrorsFilter.OnConnectedAsync(new HubLifetimeContext(keepErrorsConnection, keepErrorsServices, hub), _ => Task.CompletedTask).GetAwaiter().GetResult();
        _unsampledKeepErrors = new HubInvocationContext(keepErrorsConnection, keepErrorsServices, hub, typeof(ChatHub).GetMethod(nameof(ChatHub.Unsampled))!, ["hello"]);

        // A connection whose request carried Sec-GPC: 1 (read once, at connect).
        var privateHttp = FakeServerCallContext.CreateHttpContext("/chat");
        privateHttp.Request.Headers["Sec-GPC"] = "1";
        var privateConnection = new FakeHubCallerContext("private-connection", privateHttp);
        _filter.OnConnectedAsync(new HubLifetimeContext(privateConnection, services, hub), _ => Task.CompletedTask).GetAwaiter().GetResult();
        _optedOut = new HubInvocationContext(privateConnection, services, hub, typeof(ChatHub).GetMethod(nameof(ChatHub.Send))!, ["hello"]);

        Tracked();
        Excluded();
        Unsampled();
        UnsampledKeepErrors();
        OptedOut();
        if (_tracker.Tracker.Statistics.Queued != 1 || _tracker.Tracker.Statistics.OptedOut != 1)
        {
            throw new InvalidOperationException("the tracked invocation was not queued, or the excluded or opted-out one was");
        }

        if (_tracker.Tracker.Statistics.SampledOut != 1 || _keepErrorsTracker.Tracker.Statistics is not { SampledOut: 1, Queued: 0 })
        {
            throw new InvalidOperationException("the unsampled invocations were not counted as sampled out, or one was queued");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tracker.Dispose();
        _keepErrorsTracker.Dispose();
    }

    [Benchmark(Baseline = true, Description = "Hub invocation: no filter")]
    public object? NoFilter() => Next(_tracked).GetAwaiter().GetResult();

    [Benchmark(Description = "Hub invocation: excluded method")]
    public object? Excluded() => _filter.InvokeMethodAsync(_excluded, Next).GetAwaiter().GetResult();

    [Benchmark(Description = "Hub invocation: unsampled (KeepErrors off)")]
    public object? Unsampled() => _filter.InvokeMethodAsync(_unsampled, Next).GetAwaiter().GetResult();

    [Benchmark(Description = "Hub invocation: unsampled, KeepErrors on (errors-only scope)")]
    public object? UnsampledKeepErrors() => _keepErrorsFilter.InvokeMethodAsync(_unsampledKeepErrors, Next).GetAwaiter().GetResult();

    [Benchmark(Description = "Hub invocation: caller opted out (Sec-GPC)")]
    public object? OptedOut() => _filter.InvokeMethodAsync(_optedOut, Next).GetAwaiter().GetResult();

    [Benchmark(Description = "Hub invocation: tracked")]
    public object? Tracked()
    {
        var result = _filter.InvokeMethodAsync(_tracked, Next).GetAwaiter().GetResult();
        _tracker.TakeOne();
        return result;
    }

    public sealed class ChatHub : Hub
    {
        public string Send(string message) => message;

        public string Excluded(string message) => message;

        public string Unsampled(string message) => message;
    }
}
