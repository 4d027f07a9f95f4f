using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>
/// An app's interceptor, registered before MatomoInterceptor, that hands the rest of the pipeline a call context of its
/// own instead of grpc-dotnet's, as JSON transcoding does: its request is found where grpc-dotnet's GetHttpContext()
/// looks for one in a context that is not its own (UserState["__HttpContext"]).
/// </summary>
public sealed class OwnCallContextInterceptor : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        continuation(request, new OwnCallContext(context));

    private sealed class OwnCallContext : ServerCallContext
    {
        private readonly ServerCallContext _inner;
        private readonly Dictionary<object, object> _userState;

        public OwnCallContext(ServerCallContext inner)
        {
            _inner = inner;
            _userState = new() { ["__HttpContext"] = inner.GetHttpContext() };
        }

        protected override string MethodCore => _inner.Method;

        protected override string HostCore => _inner.Host;

        protected override string PeerCore => _inner.Peer;

        protected override DateTime DeadlineCore => _inner.Deadline;

        protected override Metadata RequestHeadersCore => _inner.RequestHeaders;

        protected override CancellationToken CancellationTokenCore => _inner.CancellationToken;

        protected override Metadata ResponseTrailersCore => _inner.ResponseTrailers;

        protected override Status StatusCore
        {
            get => _inner.Status;
            set => _inner.Status = value;
        }

        protected override WriteOptions? WriteOptionsCore
        {
            get => _inner.WriteOptions;
            set => _inner.WriteOptions = value;
        }

        protected override AuthContext AuthContextCore => _inner.AuthContext;

        protected override IDictionary<object, object> UserStateCore => _userState;

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => _inner.CreatePropagationToken(options);

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => _inner.WriteResponseHeadersAsync(responseHeaders);
    }
}
