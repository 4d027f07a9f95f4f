using Grpc.Core;
using Grpc.Core.Testing;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.Grpc.Tests.Support;

public static class CallContexts
{
    public const string SayHello = "/greet.Greeter/SayHello";
    public const string SayHelloStream = "/greet.Greeter/SayHelloStream";
    public const string SayHelloToMany = "/greet.Greeter/SayHelloToMany";
    public const string Chat = "/greet.Greeter/Chat";

    /// <summary>The UserState key under which grpc-dotnet's GetHttpContext() finds the HttpContext (as JSON transcoding sets it).</summary>
    public const string HttpContextKey = "__HttpContext";

    /// <summary>
    /// A <see cref="TestServerCallContext"/> whose WriteOptions accessors throw, like JSON transcoding's context:
    /// tracking must never touch them.
    /// </summary>
    public static ServerCallContext Create(
        string method = SayHello,
        DateTime? deadline = null,
        string host = "localhost",
        CancellationToken cancellationToken = default) =>
        TestServerCallContext.Create(
            method,
            host,
            deadline ?? DateTime.MaxValue,
            [],
            cancellationToken,
            "ipv4:127.0.0.1:50000",
            null,
            null,
            _ => Task.CompletedTask,
            () => throw new InvalidOperationException("WriteOptions read"),
            _ => throw new InvalidOperationException("WriteOptions set"));

    public static ServerCallContext WithHttpContext(HttpContext httpContext, string method = SayHello)
    {
        var context = Create(method);
        context.UserState[HttpContextKey] = httpContext;
        return context;
    }
}
