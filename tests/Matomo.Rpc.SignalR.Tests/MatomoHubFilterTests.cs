using System.Diagnostics;
using System.Threading.Channels;
using Matomo.Rpc.SignalR.Tests.Support;
using Matomo.Rpc.TestSupport;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;

namespace Matomo.Rpc.SignalR.Tests;

/// <summary>
/// End to end: a real host with the filter registered for ChatHub, a real SignalR client over each transport, and the
/// Matomo stand-in storing what a real Matomo would.
/// </summary>
[TestFixture(HttpTransportType.WebSockets)]
[TestFixture(HttpTransportType.LongPolling)]
[TestFixture(HttpTransportType.ServerSentEvents)]
public sealed class MatomoHubFilterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly HttpTransportType _transport;
    private MatomoStandIn _matomo = null!;
    private SignalRTestHost _host = null!;
    private HubConnection _connection = null!;
    private string _tag = null!;

    public MatomoHubFilterTests(HttpTransportType transport)
    {
        _transport = transport;
    }

    private string TransportName => _transport.ToString();

    [OneTimeSetUp]
    public async Task StartHostAsync()
    {
        _matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        _host = await SignalRTestHost.StartAsync(
            _matomo,
            FilterRegistration.PerHub,
            o => o.ExcludedActions.Add("ChatHub/Excluded"));
    }

    [OneTimeTearDown]
    public async Task StopHostAsync()
    {
        await _host.DisposeAsync();
        await _matomo.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [SetUp]
    public async Task ConnectAsync()
    {
        _host.Rendezvous.Reset();
        _host.Gate.Reset();
        _tag = "http://client.test/" + Guid.NewGuid().ToString("N");
        _connection = _host.CreateConnection(SignalRTestHost.ChatPath, _transport, _tag);
        await _connection.StartAsync().WaitAsync(Timeout);
    }

    [TearDown]
    public async Task DisconnectAsync()
    {
        await _connection.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.That(_host.Logs.Entries.Where(e => e.EventId.Name == "HubTrackingFailed"), Is.Empty);
    }

    [Test]
    public async Task InvokeAsync_MethodWithResult_SendsOneHitWithActionUrlAndOkOutcome()
    {
        var result = await _connection.InvokeAsync<string>("Echo", "hello").WaitAsync(Timeout);

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/Echo");
        Assert.That(result, Is.EqualTo("hello"));
        Assert.That(hit["url"], Is.EqualTo($"http://{_host.BaseUri.Authority}/hubs/chat/Echo"));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("ok"));
        Assert.That(hit.CustomVariable("kind"), Is.EqualTo("hub_invocation"));
        Assert.That(hit.CustomVariable("transport"), Is.EqualTo(TransportName));
        Assert.That(hit.CustomVariable("text"), Is.EqualTo("hello"));
        Assert.That(hit.CustomVariable("error"), Is.Null);
        Assert.That(hit.ServerTimeMs, Is.Not.Null);
        Assert.That(hit["cid"], Does.Match("^[0-9a-f]{16}$"));
        Assert.That(hit.Has("e_c"), Is.False);
        Assert.That(_matomo.Of(_tag, "ChatHub/Echo"), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task InvokeAsync_HubMethodNameAttribute_TracksTheNameClientsCall()
    {
        var result = await _connection.InvokeAsync<string>("shout", "hey").WaitAsync(Timeout);

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/shout");
        Assert.That(result, Is.EqualTo("HEY"));
        Assert.That(hit["url"], Does.EndWith("/hubs/chat/shout"));
        Assert.That(_matomo.Of(_tag, "ChatHub/Shout"), Is.Empty);
    }

    [Test]
    public async Task SendAsync_FireAndForget_SendsHitWithPerInvocationVariable()
    {
        await _connection.SendAsync("Notify", "ping").WaitAsync(Timeout);

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/Notify");
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("ok"));
        Assert.That(hit["dimension7"], Is.EqualTo("ping"));
    }

    [Test]
    public async Task InvokeAsync_HubException_RecordsErrorAndClientGetsTheHubExceptionMessage()
    {
        var ex = Assert.ThrowsAsync<HubException>(() => _connection.InvokeAsync("FailWithHubException").WaitAsync(Timeout));

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/FailWithHubException");
        Assert.That(ex!.Message, Does.EndWith("HubException: no such room"));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("error"));
        Assert.That(hit.CustomVariable("error"), Is.EqualTo("HubException"));
    }

    [Test]
    public async Task InvokeAsync_UnhandledException_RecordsErrorTypeAndClientGetsTheGenericError()
    {
        var ex = Assert.ThrowsAsync<HubException>(() => _connection.InvokeAsync("FailUnhandled").WaitAsync(Timeout));

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/FailUnhandled");
        Assert.That(ex!.Message, Does.Contain("An unexpected error occurred invoking 'FailUnhandled' on the server."));
        Assert.That(ex.Message, Does.Not.Contain("boom"));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("error"));
        Assert.That(hit.CustomVariable("error"), Is.EqualTo("InvalidOperationException"));
    }

    [Test]
    public async Task StreamAsync_ConsumedToTheEnd_SendsOneHitWhenTheStreamEndsWithItsDurationAndCount()
    {
        var items = new List<int>();
        var stopwatch = Stopwatch.StartNew();

        await foreach (var item in _connection.StreamAsync<int>("Count", 5, 40).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
            items.Add(item);
        }

        stopwatch.Stop();
        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/Count");
        Assert.That(items, Is.EqualTo(new[] { 0, 1, 2, 3, 4 }));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("ok"));
        Assert.That(hit.CustomVariable("kind"), Is.EqualTo("hub_stream"));
        Assert.That(hit.CustomVariable("messages"), Is.EqualTo("in=0 out=5"));
        Assert.That(hit.ServerTimeMs, Is.GreaterThanOrEqualTo(150).And.LessThanOrEqualTo(stopwatch.ElapsedMilliseconds + 1));
        Assert.That(hit["dimension5"], Is.EqualTo("item4"), "set by the iterator after the filter returned");
    }

    [Test]
    public async Task StreamAsync_StillStreaming_SendsNoHitUntilTheStreamEnds()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var stream = _connection.StreamAsync<int>("Gated", cts.Token).GetAsyncEnumerator(cts.Token);
        try
        {
            var first = await stream.MoveNextAsync().AsTask().WaitAsync(Timeout);

            // Hits are sent in the order calls complete: once this one is stored, a hit of the open stream would be too.
            await _connection.InvokeAsync<string>("Echo", "meanwhile").WaitAsync(Timeout);
            await _matomo.WaitForHitAsync(_tag, "ChatHub/Echo");
            var whileOpen = _matomo.Of(_tag, "ChatHub/Gated");
            _host.Gate.Open();
            var second = await stream.MoveNextAsync().AsTask().WaitAsync(Timeout);
            var end = !await stream.MoveNextAsync().AsTask().WaitAsync(Timeout);

            var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/Gated");
            Assert.That((first, second, end), Is.EqualTo((true, true, true)));
            Assert.That(whileOpen, Is.Empty);
            Assert.That(hit.CustomVariable("messages"), Is.EqualTo("in=0 out=2"));
            Assert.That(hit.CustomVariable("status"), Is.EqualTo("ok"));
        }
        finally
        {
            await stream.DisposeAsync().AsTask().WaitAsync(Timeout);
        }
    }

    [Test]
    public async Task StreamAsync_CancelledByTheClientMidway_RecordsCancelledWithTheItemsSent()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var received = 0;

        try
        {
            await foreach (var _ in _connection.StreamAsync<int>("Count", 1000, 20, cts.Token))
            {
                if (++received == 3)
                {
                    cts.Cancel();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/Count");
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("cancelled"));
        Assert.That(hit.CustomVariable("messages"), Does.Match("^in=0 out=([3-9]|[1-9][0-9]+)$"));
        Assert.That(hit.CustomVariable("messages"), Is.Not.EqualTo("in=0 out=1000"));
        Assert.That(hit.CustomVariable("error"), Is.Null);
    }

    [Test]
    public async Task StreamAsync_ChannelReaderResult_SendsHitWhenTheChannelCompletes()
    {
        var items = new List<int>();

        await foreach (var item in _connection.StreamAsync<int>("CountChannel", 3).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
            items.Add(item);
        }

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/CountChannel");
        Assert.That(items, Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("ok"));
        Assert.That(hit.CustomVariable("kind"), Is.EqualTo("hub_stream"));
        Assert.That(hit.CustomVariable("messages"), Is.EqualTo("in=0 out=3"));
    }

    [Test]
    public async Task StreamAsync_ChannelCompletedWithAnError_RecordsTheErrorAndTheClientGetsIt()
    {
        var items = new List<int>();

        var ex = Assert.ThrowsAsync<HubException>(async () =>
        {
            await foreach (var item in _connection.StreamAsync<int>("FailingChannel").WithCancellation(new CancellationTokenSource(Timeout).Token))
            {
                items.Add(item);
            }
        });

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/FailingChannel");
        Assert.That(items, Is.EqualTo(new[] { 1 }));
        Assert.That(ex!.Message, Does.Contain("An error occurred on the server while streaming results."));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("error"));
        Assert.That(hit.CustomVariable("error"), Is.EqualTo("TimeoutException"));
        Assert.That(hit.CustomVariable("messages"), Is.EqualTo("in=0 out=1"));
    }

    [Test]
    public async Task InvokeAsync_ClientToServerChannelStream_TracksTheWholeUploadWithItsItemCount()
    {
        var upload = Channel.CreateUnbounded<string>();

        var result = _connection.InvokeAsync<int>("Upload", upload.Reader);
        foreach (var item in new[] { "a", "b", "c", "d" })
        {
            Assert.That(upload.Writer.TryWrite(item), Is.True);
        }

        upload.Writer.Complete();
        var count = await result.WaitAsync(Timeout);

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/Upload");
        Assert.That(count, Is.EqualTo(4));
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("ok"));
        Assert.That(hit.CustomVariable("kind"), Is.EqualTo("hub_invocation"));
        Assert.That(hit.CustomVariable("messages"), Is.EqualTo("in=4 out=0"));
    }

    [Test]
    public async Task InvokeAsync_ClientToServerAsyncEnumerable_TracksTheWholeUploadWithItsItemCount()
    {
        static async IAsyncEnumerable<string> ItemsAsync()
        {
            for (var i = 0; i < 3; i++)
            {
                await Task.Yield();
                yield return "item" + i;
            }
        }

        var count = await _connection.InvokeAsync<int>("UploadEnumerable", ItemsAsync()).WaitAsync(Timeout);

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/UploadEnumerable");
        Assert.That(count, Is.EqualTo(3));
        Assert.That(hit.CustomVariable("messages"), Is.EqualTo("in=3 out=0"));
    }

    [Test]
    public async Task StartAndDispose_Connection_SendsConnectAndDisconnectEvents()
    {
        var connect = await _matomo.WaitForHitAsync(_tag, "ChatHub/connect");

        await _connection.StopAsync().WaitAsync(Timeout);

        var disconnect = await _matomo.WaitForHitAsync(_tag, "ChatHub/disconnect");
        Assert.That(connect["e_c"], Is.EqualTo("ChatHub"));
        Assert.That(connect["e_a"], Is.EqualTo("connect"));
        Assert.That(connect["e_n"], Is.EqualTo(TransportName));
        Assert.That(connect["url"], Is.EqualTo($"http://{_host.BaseUri.Authority}/hubs/chat"));
        Assert.That(connect.Has("pf_srv"), Is.False);
        Assert.That(connect.CustomVariable("kind"), Is.EqualTo("hub_connect"));
        Assert.That(disconnect["e_c"], Is.EqualTo("ChatHub"));
        Assert.That(disconnect["e_a"], Is.EqualTo("disconnect"));
        Assert.That(disconnect["e_n"], Is.EqualTo(TransportName));
        Assert.That(disconnect["e_v"], Does.Match("^[0-9]+$"));
        Assert.That(disconnect.Has("pf_srv"), Is.False);
        Assert.That(disconnect.CustomVariable("kind"), Is.EqualTo("hub_disconnect"));
        Assert.That(disconnect.CustomVariable("status"), Is.EqualTo("ok"));
        Assert.That(disconnect["cid"], Is.EqualTo(connect["cid"]), "one connection is one visitor");
    }

    [Test]
    public async Task InvokeAsync_TwoConnections_AreTwoVisitors()
    {
        var otherTag = _tag + "-other";
        var other = _host.CreateConnection(SignalRTestHost.ChatPath, _transport, otherTag);
        await other.StartAsync().WaitAsync(Timeout);

        await _connection.InvokeAsync<string>("Echo", "a").WaitAsync(Timeout);
        await _connection.InvokeAsync<string>("Echo", "b").WaitAsync(Timeout);
        await other.InvokeAsync<string>("Echo", "c").WaitAsync(Timeout);

        var mine = await _matomo.WaitForHitsAsync(_tag, "ChatHub/Echo", 2);
        var theirs = await _matomo.WaitForHitAsync(otherTag, "ChatHub/Echo");
        Assert.That(mine[1]["cid"], Is.EqualTo(mine[0]["cid"]));
        Assert.That(theirs["cid"], Is.Not.EqualTo(mine[0]["cid"]));
    }

    [Test]
    public async Task InvokeAsync_TwoConcurrentInvocationsOnOneConnection_EachKeepsItsOwnVariables()
    {
        var first = _connection.InvokeAsync<string>("Tagged", "first");
        var second = _connection.InvokeAsync<string>("Tagged", "second");
        var results = await Task.WhenAll(first, second).WaitAsync(Timeout);

        var hits = await _matomo.WaitForHitsAsync(_tag, "ChatHub/Tagged", 2);
        Assert.That(results, Is.EqualTo(new[] { "first", "second" }));
        Assert.That(hits, Has.Count.EqualTo(2));
        Assert.That(hits.Select(h => h.CustomVariable("tag")), Is.EquivalentTo(new[] { "first", "second" }));
        foreach (var hit in hits)
        {
            Assert.That(hit["dimension9"], Is.EqualTo(hit.CustomVariable("tag")));
            Assert.That(hit.CustomVariables.Count(c => c.Key == "tag"), Is.EqualTo(1));
        }
    }

    [Test]
    public async Task InvokeAsync_SkippedByHubCode_SendsNoHit()
    {
        var skipped = await _connection.InvokeAsync<string>("Skipped").WaitAsync(Timeout);
        await _connection.InvokeAsync<string>("Echo", "after").WaitAsync(Timeout);

        await _matomo.WaitForHitAsync(_tag, "ChatHub/Echo");
        Assert.That(skipped, Is.EqualTo("skipped"));
        Assert.That(_matomo.Of(_tag, "ChatHub/Skipped"), Is.Empty);
    }

    [Test]
    public async Task InvokeAsync_ExcludedAction_PerInvocationApiIsIgnoredAndNoHitIsSent()
    {
        var excluded = await _connection.InvokeAsync<string>("Excluded").WaitAsync(Timeout);
        await _connection.InvokeAsync<string>("Echo", "after").WaitAsync(Timeout);

        await _matomo.WaitForHitAsync(_tag, "ChatHub/Echo");
        Assert.That(excluded, Is.EqualTo("untracked"));
        Assert.That(_matomo.Of(_tag, "ChatHub/Excluded"), Is.Empty);
    }

    [Test]
    public async Task InvokeAsync_MeasureMatomoPerf_RecordsTheTimerInWholeMilliseconds()
    {
        var action = await _connection.InvokeAsync<string>("Measured").WaitAsync(Timeout);

        var hit = await _matomo.WaitForHitAsync(_tag, "ChatHub/Measured");
        Assert.That(action, Is.EqualTo("ChatHub/Measured"));
        Assert.That(hit["pf_dm1"], Does.Match("^[0-9]+$"));
    }

    [Test]
    public async Task InvokeAsync_HubWithoutTheFilter_PerInvocationApiThrowsInvalidOperationException()
    {
        var plain = _host.CreateConnection(SignalRTestHost.PlainPath, _transport, _tag);
        await plain.StartAsync().WaitAsync(Timeout);

        var result = await plain.InvokeAsync<string>("TrySetVar").WaitAsync(Timeout);

        Assert.That(result, Is.EqualTo(nameof(InvalidOperationException)));
    }
}
