using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>An app's interceptor (an authorization check, say) that fails every unary call before the next interceptor runs.</summary>
public sealed class DenyingInterceptor : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        throw new RpcException(new Status(StatusCode.PermissionDenied, "denied"));
}
