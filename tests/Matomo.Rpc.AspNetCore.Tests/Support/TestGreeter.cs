using Greet;
using Grpc.Core;

namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>The Greeter of protos/greet.proto, unary only.</summary>
public sealed class TestGreeter : Greeter.GreeterBase
{
    public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context) =>
        Task.FromResult(new HelloReply { Message = "Hello " + request.Name });
}
