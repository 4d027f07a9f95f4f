using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// A minimal ServerCallContext: grpc-dotnet's GetHttpContext() finds the HttpContext under "__HttpContext" in
/// UserState (its hook for unit tests). Reused across invocations; Reset() puts UserState back as a new call has it.
/// </summary>
internal sealed class FakeServerCallContext : ServerCallContext
{
    private const string HttpContextKey = "__HttpContext";

    private readonly Dictionary<object, object> _userState = new(4);
    private readonly HttpContext _httpContext;
    private readonly string _method;
    private Status _status;

    public FakeServerCallContext(string method, HttpContext httpContext)
    {
        _method = method;
        _httpContext = httpContext;
        Reset();
    }

    public void Reset()
    {
        _userState.Clear();
        _userState[HttpContextKey] = _httpContext;
        _status = Status.DefaultSuccess;
    }

    protected override string MethodCore => _method;

    protected override string HostCore => "localhost:5001";

    protected override string PeerCore => "ipv4:127.0.0.1:50000";

    protected override DateTime DeadlineCore => DateTime.MaxValue;

    protected override Metadata RequestHeadersCore { get; } = [];

    protected override CancellationToken CancellationTokenCore => CancellationToken.None;

    protected override Metadata ResponseTrailersCore { get; } = [];

    protected override Status StatusCore
    {
        get => _status;
        set => _status = value;
    }

    protected override WriteOptions? WriteOptionsCore { get; set; }

    protected override AuthContext AuthContextCore { get; } = new(null, []);

    protected override IDictionary<object, object> UserStateCore => _userState;

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException();

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;

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
}
