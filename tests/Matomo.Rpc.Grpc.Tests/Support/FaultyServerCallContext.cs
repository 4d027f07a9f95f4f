using Grpc.Core;

namespace Matomo.Rpc.Grpc.Tests.Support;

/// <summary>
/// A server call context that throws where JSON transcoding's does (ResponseTrailers, WriteOptions) and, on demand,
/// where a broken host would (UserState, Status), to prove tracking never touches the former and survives the latter.
/// </summary>
public sealed class FaultyServerCallContext(string method) : ServerCallContext
{
    private readonly Dictionary<object, object> _userState = [];
    private Status _status;

    public bool ThrowOnUserState { get; set; }

    public bool ThrowOnStatus { get; set; }

    protected override string MethodCore => method;

    protected override string HostCore => "localhost";

    protected override string PeerCore => "ipv4:127.0.0.1:50000";

    protected override DateTime DeadlineCore => DateTime.MaxValue;

    protected override Metadata RequestHeadersCore { get; } = [];

    protected override CancellationToken CancellationTokenCore => CancellationToken.None;

    protected override Metadata ResponseTrailersCore => throw new NotSupportedException("ResponseTrailers");

    protected override Status StatusCore
    {
        get => ThrowOnStatus ? throw new InvalidOperationException("Status") : _status;
        set => _status = value;
    }

    protected override WriteOptions? WriteOptionsCore
    {
        get => throw new NotSupportedException("WriteOptions");
        set => throw new NotSupportedException("WriteOptions");
    }

    protected override AuthContext AuthContextCore => new(null, []);

    protected override IDictionary<object, object> UserStateCore =>
        ThrowOnUserState ? throw new InvalidOperationException("UserState") : _userState;

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException();

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
}
