using Grpc.Core;
using Transcoded;

namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>A service reached through gRPC JSON transcoding (<c>POST /v1/say</c>).</summary>
public sealed class TestEcho : Echo.EchoBase
{
    public override Task<SayReply> Say(SayRequest request, ServerCallContext context) =>
        Task.FromResult(new SayReply { Text = string.Concat(Enumerable.Repeat(request.Text, Math.Max(request.Times, 1))) });
}
