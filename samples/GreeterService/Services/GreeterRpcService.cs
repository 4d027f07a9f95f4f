using System.Globalization;
using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc;

namespace GreeterService.Services;

/// <summary>The Greeter of protos/greet.proto: one method of each gRPC call kind.</summary>
public sealed class GreeterRpcService : Greeter.GreeterBase
{
    public const string UserIdHeader = "x-user-id";
    private const int MaxReplies = 100;

    public override async Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Name))
        {
            // Recorded in Matomo as "InvalidArgument (3)".
            throw new RpcException(new Status(StatusCode.InvalidArgument, "name is required"));
        }

        if (request.Name == "boom")
        {
            // An unhandled exception: the client sees Unknown, Matomo records "Unknown (2)" and the exception type.
            throw new InvalidOperationException("The name 'boom' makes the sample fail on purpose.");
        }

        // Per-call API. A timer: the block's whole milliseconds go to pf_srv ("server time" in Matomo), in place of the
        // whole call's duration the interceptor would send otherwise. Other pf_* names (pf_dm1, ...) add a second figure.
        string message;
        using (context.MeasureMatomoPerf("pf_srv"))
        {
            message = await ComposeGreetingAsync(request.Name, context.CancellationToken);
        }

        // An action-scoped custom variable of this call, sent after the built-in ones (status, kind).
        context.AddMatomoCustomVariable("greeting_length", message.Length.ToString(CultureInfo.InvariantCulture));

        // Any Tracking API parameter for this call only: here the caller's user id (uid), when it sends one, so that
        // Matomo counts its calls as one visitor across connections and replicas. It leaves as a pseudonym (a keyed hash
        // with Matomo:VisitorIdSalt) unless Matomo:UserId:Mode is Plain: the user's name never reaches Matomo.
        if (context.RequestHeaders.GetValue(UserIdHeader) is { Length: > 0 } userId)
        {
            context.SetMatomoVar("uid", userId);
        }

        return new HelloReply { Message = message };
    }

    public override async Task SayHelloStream(HelloRequest request, IServerStreamWriter<HelloReply> responseStream, ServerCallContext context)
    {
        var count = Math.Clamp(request.Count, 1, MaxReplies);
        for (var i = 1; i <= count; i++)
        {
            await responseStream.WriteAsync(new HelloReply { Message = $"Hello {request.Name} ({i}/{count})" }, context.CancellationToken);
            await Task.Delay(TimeSpan.FromMilliseconds(10), context.CancellationToken);
        }
    }

    public override async Task<HelloReply> SayHelloToMany(IAsyncStreamReader<HelloRequest> requestStream, ServerCallContext context)
    {
        var names = new List<string>();
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            names.Add(request.Name);
        }

        var everyone = names.Count switch
        {
            0 => "nobody",
            1 => names[0],
            _ => string.Join(", ", names.Take(names.Count - 1)) + " and " + names[^1],
        };
        return new HelloReply { Message = $"Hello {everyone}!" };
    }

    public override async Task Chat(IAsyncStreamReader<HelloRequest> requestStream, IServerStreamWriter<HelloReply> responseStream, ServerCallContext context)
    {
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            await responseStream.WriteAsync(new HelloReply { Message = $"Hello {request.Name}" }, context.CancellationToken);
        }
    }

    private static async Task<string> ComposeGreetingAsync(string name, CancellationToken cancellationToken)
    {
        // Stands in for the real work of a service (a database or another service).
        await Task.Delay(TimeSpan.FromMilliseconds(5), cancellationToken);
        return $"Hello {name}";
    }
}
