using Greet;
using Grpc.Core;

namespace Matomo.Rpc.Grpc.Tests.Support;

/// <summary>Lets a test wait until the service is inside a call (to cancel it at the right moment).</summary>
public sealed class GreeterProbe
{
    private TaskCompletionSource _waiting = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a call reaches a "wait" since the last <see cref="Reset"/>.</summary>
    public Task Waiting => Volatile.Read(ref _waiting).Task;

    public void Reset() => Volatile.Write(ref _waiting, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public void SignalWaiting() => Volatile.Read(ref _waiting).TrySetResult();
}

/// <summary>
/// The Greeter of protos/greet.proto, with behaviours picked by the request's name: "notfound" (RpcException with
/// trailers), "crash" (unhandled exception), "status" (sets Status and a trailer, returns), "wait" (waits for
/// cancellation), "late" (waits for cancellation, then returns normally), "vars" (uses the per-call API), "uid" (sets
/// <c>uid</c> from the <c>x-user-id</c> header, as the sample does); anything else greets.
/// </summary>
public sealed class TestGreeter(GreeterProbe probe) : Greeter.GreeterBase
{
    public override async Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
    {
        await Act(request.Name, context);
        return new HelloReply { Message = "Hello " + request.Name };
    }

    public override async Task SayHelloStream(HelloRequest request, IServerStreamWriter<HelloReply> responseStream, ServerCallContext context)
    {
        for (var i = 1; i <= request.Count; i++)
        {
            await responseStream.WriteAsync(new HelloReply { Message = $"Hello {request.Name} {i}" }, context.CancellationToken);
        }

        await Act(request.Name, context);
    }

    public override async Task<HelloReply> SayHelloToMany(IAsyncStreamReader<HelloRequest> requestStream, ServerCallContext context)
    {
        var names = new List<string>();
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            names.Add(request.Name);
            await Act(request.Name, context);
        }

        return new HelloReply { Message = "Hello " + string.Join(", ", names) };
    }

    public override async Task Chat(IAsyncStreamReader<HelloRequest> requestStream, IServerStreamWriter<HelloReply> responseStream, ServerCallContext context)
    {
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            await Act(request.Name, context);
            await responseStream.WriteAsync(new HelloReply { Message = "Hello " + request.Name }, context.CancellationToken);
        }
    }

    private async Task Act(string name, ServerCallContext context)
    {
        switch (name)
        {
            case "notfound":
                throw new RpcException(new Status(StatusCode.NotFound, "No greeter for 'notfound'."), new Metadata { { "reason", "unknown-name" } });
            case "crash":
                throw new InvalidOperationException("The greeter crashed.");
            case "status":
                context.ResponseTrailers.Add("retry-after", "5");
                context.Status = new Status(StatusCode.FailedPrecondition, "The greeter is not ready.");
                break;
            case "wait":
                probe.SignalWaiting();
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
                break;
            case "late":
                // Ignores its deadline: waits until the call is cancelled, then returns normally all the same.
                probe.SignalWaiting();
                try
                {
                    await Task.Delay(Timeout.Infinite, context.CancellationToken);
                }
                catch (OperationCanceledException)
                {
                }

                break;
            case "uid":
                context.SetMatomoVar("uid", context.RequestHeaders.GetValue("x-user-id"));
                break;
            case "vars":
                context.SetMatomoVar("dimension1", "from-service");
                context.AddMatomoCustomVariable("tenant", "acme");
                break;
        }
    }
}
