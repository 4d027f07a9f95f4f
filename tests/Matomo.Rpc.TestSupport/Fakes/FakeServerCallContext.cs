using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.TestSupport.Fakes;

/// <summary>
/// A minimal ServerCallContext, shared by the gRPC tests and the benchmarks (linked into each, see
/// Matomo.Rpc.TestSupport.csproj). grpc-dotnet's GetHttpContext() finds the HttpContext under "__HttpContext" in
/// UserState (its hook for unit tests); reused across invocations, <see cref="Reset"/> puts UserState back as a new call
/// has it. <c>likeJsonTranscoding</c> makes it throw where JSON transcoding's does (ResponseTrailers, WriteOptions), and
/// <see cref="ThrowOnUserState"/> / <see cref="ThrowOnStatus"/> where a broken host would: tracking never touches the
/// former and survives the latter.
/// </summary>
internal sealed class FakeServerCallContext : ServerCallContext
{
    public const string HttpContextKey = "__HttpContext";

    private readonly Dictionary<object, object> _userState = new(4);
    private readonly HttpContext? _httpContext;
    private readonly string _method;
    private readonly string _host;
    private readonly bool _likeJsonTranscoding;
    private readonly Metadata _trailers = [];
    private Status _status;
    private WriteOptions? _writeOptions;

    public FakeServerCallContext(string method, HttpContext? httpContext = null, string host = "localhost", bool likeJsonTranscoding = false)
    {
        _method = method;
        _httpContext = httpContext;
        _host = host;
        _likeJsonTranscoding = likeJsonTranscoding;
        Reset();
    }

    public bool ThrowOnUserState { get; set; }

    public bool ThrowOnStatus { get; set; }

    protected override string MethodCore => _method;

    protected override string HostCore => _host;

    protected override string PeerCore => "ipv4:127.0.0.1:50000";

    protected override DateTime DeadlineCore => DateTime.MaxValue;

    protected override Metadata RequestHeadersCore { get; } = [];

    protected override CancellationToken CancellationTokenCore => CancellationToken.None;

    protected override Metadata ResponseTrailersCore => _likeJsonTranscoding ? throw new NotSupportedException("ResponseTrailers") : _trailers;

    protected override Status StatusCore
    {
        get => ThrowOnStatus ? throw new InvalidOperationException("Status") : _status;
        set => _status = value;
    }

    protected override WriteOptions? WriteOptionsCore
    {
        get => _likeJsonTranscoding ? throw new NotSupportedException("WriteOptions") : _writeOptions;
        set => _writeOptions = _likeJsonTranscoding ? throw new NotSupportedException("WriteOptions") : value;
    }

    protected override AuthContext AuthContextCore { get; } = new(null, []);

    protected override IDictionary<object, object> UserStateCore =>
        ThrowOnUserState ? throw new InvalidOperationException("UserState") : _userState;

    public void Reset()
    {
        _userState.Clear();
        if (_httpContext is not null)
        {
            _userState[HttpContextKey] = _httpContext;
        }

        _status = Status.DefaultSuccess;
    }

    /// <summary>The HttpContext of a gRPC request as Kestrel has it.</summary>
    public static HttpContext CreateHttpContext(string path)
    {
        var http = new DefaultHttpContext();
        http.Request.Protocol = "HTTP/2";
        http.Request.Method = "POST";
        http.Request.Scheme = "http";
        http.Request.Host = new HostString("localhost", 5001);
        http.Request.Path = path;
        http.Request.ContentType = "application/grpc";
        http.Request.Headers.UserAgent = "grpc-dotnet/2.80.0 (.NET 10.0.0; CLR 10.0.0; net10.0; linux; x64)";
        http.Request.Headers.AcceptLanguage = "en-US";
        http.Connection.RemoteIpAddress = System.Net.IPAddress.Loopback;
        return http;
    }

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException();

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
}
