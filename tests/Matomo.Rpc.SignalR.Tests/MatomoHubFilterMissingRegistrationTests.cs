using Matomo.Rpc.SignalR.Tests.Support;
using Matomo.Rpc.TestSupport;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.SignalR.Tests;

/// <summary>The filter registered but AddMatomoTracking forgotten: hubs work untracked, one error says why.</summary>
public sealed class MatomoHubFilterMissingRegistrationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [TestCase(FilterRegistration.PerHub)]
    [TestCase(FilterRegistration.Global)]
    [TestCase(FilterRegistration.GlobalSingleton)]
    public async Task Hub_FilterWithoutAddMatomoTracking_WorksAndOneErrorIsLogged(FilterRegistration registration)
    {
        await using var matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        await using var host = await SignalRTestHost.StartAsync(matomo, registration, registerTracking: false).WaitAsync(Timeout);
        var connection = host.CreateConnection(SignalRTestHost.ChatPath, HttpTransportType.WebSockets, "untracked");
        await connection.StartAsync().WaitAsync(Timeout);

        var echo = await connection.InvokeAsync<string>("Echo", "hi").WaitAsync(Timeout);
        await connection.InvokeAsync("Notify", "x").WaitAsync(Timeout);
        var measured = await connection.InvokeAsync<string>("Measured").WaitAsync(Timeout);
        var streamed = await connection.StreamAsync<int>("Count", 3, 0).ToListAsync().AsTask().WaitAsync(Timeout);
        var failure = Assert.ThrowsAsync<HubException>(() => connection.InvokeAsync("FailWithHubException").WaitAsync(Timeout));
        var connectionId = connection.ConnectionId!;
        await connection.StopAsync().WaitAsync(Timeout);
        await host.Connections.WaitForDisconnectAsync(connectionId).WaitAsync(Timeout);

        Assert.That(echo, Is.EqualTo("hi"));
        Assert.That(measured, Is.EqualTo("none"), "no call to see");
        Assert.That(streamed, Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(failure!.Message, Does.Contain("no such room"), "the hub's own errors reach the client");
        var errors = host.Logs.Entries.Where(e => e.Level >= LogLevel.Error && e.Category.StartsWith("Matomo.Rpc", StringComparison.Ordinal)).ToList();
        Assert.That(errors.Select(e => (e.EventId.Id, e.EventId.Name, e.Category)),
            Is.EqualTo(new[] { (201, "HubTrackerMissing", typeof(MatomoHubFilter).FullName) }), "one error, logged once, naming the fix");
        Assert.That(matomo.Requests, Is.Empty);
    }
}
