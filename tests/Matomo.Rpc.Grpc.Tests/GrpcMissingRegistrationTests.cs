using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc.Tests;

/// <summary>The interceptor registered but AddMatomoTracking forgotten: calls go through untracked, one error says why.</summary>
public class GrpcMissingRegistrationTests
{
    [TestCase(false, TestName = "SayHello_InterceptorActivatedPerCallWithoutAddMatomoTracking_CallsSucceedAndOneErrorIsLogged")]
    [TestCase(true, TestName = "SayHello_InterceptorSingletonWithoutAddMatomoTracking_CallsSucceedAndOneErrorIsLogged")]
    public async Task SayHello_WithoutAddMatomoTracking_CallsSucceedAndOneErrorIsLogged(bool singleton)
    {
        await using var host = await GrpcTestHost.StartAsync(services =>
        {
            services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
            if (singleton)
            {
                services.AddSingleton<MatomoInterceptor>();
            }
        });

        var replies = new List<string>();
        foreach (var name in new[] { "Ada", "vars", "Grace" })
        {
            replies.Add((await host.Greeter.SayHelloAsync(new HelloRequest { Name = name }).ResponseAsync.WaitAsync(TestTimeouts.Default)).Message);
        }

        using var chat = host.Greeter.Chat();
        await chat.RequestStream.WriteAsync(new HelloRequest { Name = "vars" }).WaitAsync(TestTimeouts.Default);
        await chat.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Default);
        var streamed = await chat.ResponseStream.ReadAllAsync().ToListAsync().AsTask().WaitAsync(TestTimeouts.Default);
        var notFound = Assert.ThrowsAsync<RpcException>(() => host.Greeter.SayHelloAsync(new HelloRequest { Name = "notfound" }).ResponseAsync.WaitAsync(TestTimeouts.Default));

        Assert.That(replies, Is.EqualTo(new[] { "Hello Ada", "Hello vars", "Hello Grace" }));
        Assert.That(streamed.Select(r => r.Message), Is.EqualTo(new[] { "Hello vars" }));
        Assert.That(notFound!.StatusCode, Is.EqualTo(StatusCode.NotFound), "the service's own errors reach the client untouched");
        var errors = host.Logs.Entries.Where(e => e.Level >= LogLevel.Error && e.Category.StartsWith("Matomo.Rpc", StringComparison.Ordinal)).ToList();
        Assert.That(errors.Select(e => (e.EventId.Id, e.EventId.Name, e.Category)),
            Is.EqualTo(new[] { (101, "GrpcTrackerMissing", typeof(MatomoInterceptor).FullName) }), "one error, logged once, naming the fix");
    }
}
