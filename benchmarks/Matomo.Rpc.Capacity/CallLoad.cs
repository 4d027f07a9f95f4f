using Greet;
using Grpc.Core;
using Grpc.Net.Client;
using Matomo.Rpc.LoadTest;

namespace Matomo.Rpc.Capacity;

/// <summary>
/// Callers of the Greeter at a fixed offered rate, spread over one loopback source address per visitor, so that
/// Matomo.Rpc's default (hashed) visitor identity sees several visitors, as a real service would.
/// </summary>
internal sealed class CallLoad
{
    private static readonly HelloRequest Request = new() { Name = "capacity" };

    private readonly GrpcChannel[] _channels;
    private readonly Task[] _callers;
    private long _completed;
    private long _failed;
    private volatile bool _stop;

    private CallLoad(string address, double rate, CapacitySettings settings)
    {
        _channels = [.. Enumerable.Range(0, settings.Visitors).Select(v => GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = RpcRun.BoundHandler(RpcRun.VisitorAddress(v)),
        }))];
        var clients = _channels.Select(c => new Greeter.GreeterClient(c)).ToArray();
        var periodTicks = CallPacer.PeriodFor(rate, settings.Callers);
        _callers = [.. Enumerable.Range(0, settings.Callers).Select(i => Task.Run(() => CallerAsync(clients[i % clients.Length], new CallPacer(periodTicks, i, settings.Callers))))];
    }

    public long Completed => Interlocked.Read(ref _completed);

    public long Failed => Interlocked.Read(ref _failed);

    public static CallLoad Start(string address, double rate, CapacitySettings settings) => new(address, rate, settings);

    public async Task StopAsync()
    {
        _stop = true;
        await Task.WhenAll(_callers);
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
    }

    private async Task CallerAsync(Greeter.GreeterClient client, CallPacer pacer)
    {
        while (!_stop)
        {
            await pacer.WaitTurnAsync();

            try
            {
                await client.SayHelloAsync(Request).ResponseAsync;
                Interlocked.Increment(ref _completed);
            }
            catch (RpcException)
            {
                Interlocked.Increment(ref _failed);
            }
        }
    }
}
