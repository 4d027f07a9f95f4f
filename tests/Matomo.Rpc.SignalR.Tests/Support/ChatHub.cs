using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Matomo.Rpc.SignalR;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>The tracked hub of the tests: one method per shape of call.</summary>
public sealed class ChatHub : Hub
{
    private readonly Rendezvous _rendezvous;
    private readonly ConnectionLog _connections;
    private readonly StreamGate _gate;

    public ChatHub(Rendezvous rendezvous, ConnectionLog connections, StreamGate gate)
    {
        _rendezvous = rendezvous;
        _connections = connections;
        _gate = gate;
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        _connections.Disconnected(Context.ConnectionId);
        return base.OnDisconnectedAsync(exception);
    }

    public string Echo(string text)
    {
        Context.AddMatomoCustomVariable("text", text);
        return text;
    }

    [HubMethodName("shout")]
    public string Shout(string text) => text.ToUpperInvariant();

    public void Notify(string text) => Context.SetMatomoVar("dimension7", text);

    public void FailWithHubException() => throw new HubException("no such room");

    public void FailUnhandled() => throw new InvalidOperationException("boom");

    public async IAsyncEnumerable<int> Count(int count, int delayMs, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = 0; i < count; i++)
        {
            yield return i;
            Context.SetMatomoVar("dimension5", "item" + i);
            await Task.Delay(delayMs, cancellationToken);
        }
    }

    public async IAsyncEnumerable<int> Gated([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        yield return 1;
        await _gate.WaitAsync(cancellationToken);
        yield return 2;
    }

    public ChannelReader<int> CountChannel(int count)
    {
        var channel = Channel.CreateUnbounded<int>();
        _ = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await channel.Writer.WriteAsync(i);
            }

            channel.Writer.Complete();
        });
        return channel.Reader;
    }

    public ChannelReader<int> FailingChannel()
    {
        var channel = Channel.CreateUnbounded<int>();
        channel.Writer.TryWrite(1);
        channel.Writer.Complete(new TimeoutException("source timed out"));
        return channel.Reader;
    }

    public async Task<int> Upload(ChannelReader<string> items)
    {
        var count = 0;
        while (await items.WaitToReadAsync())
        {
            while (items.TryRead(out _))
            {
                count++;
            }
        }

        return count;
    }

    public async Task<int> UploadEnumerable(IAsyncEnumerable<string> items)
    {
        var count = 0;
        await foreach (var _ in items)
        {
            count++;
        }

        return count;
    }

    public async Task<string> Tagged(string tag)
    {
        Context.AddMatomoCustomVariable("tag", tag);
        await _rendezvous.ArriveAsync();
        Context.SetMatomoVar("dimension9", tag);
        return tag;
    }

    public string Skipped()
    {
        Context.SkipMatomoTracking();
        return "skipped";
    }

    public string Excluded()
    {
        Context.SetMatomoVar("dimension1", "ignored");
        using (Context.MeasureMatomoPerf("pf_srv"))
        {
            return Context.GetMatomoCall() is null ? "untracked" : "tracked";
        }
    }

    public string Measured()
    {
        using (Context.MeasureMatomoPerf("pf_dm1"))
        {
            return Context.GetMatomoCall()?.Action ?? "none";
        }
    }
}
