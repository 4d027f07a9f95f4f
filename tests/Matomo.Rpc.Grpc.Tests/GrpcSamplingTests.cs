using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc.Tests.Support;
using Matomo.Rpc.Internal;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.Grpc.Tests;

/// <summary>
/// Sampling through a real Kestrel host and a real gRPC client: a rate of 0.25 tracks the calls a seeded source picks
/// (about a quarter), every failed call is kept, and sampled hits carry their rate.
/// </summary>
public class GrpcSamplingTests
{
    private const int Seed = 20261130;
    private const double Rate = 0.25;

    [Test]
    public async Task SayHello_RateQuarterSeeded_TracksThePickedQuarterAndEveryError()
    {
        const int okCalls = 400;
        const int failedCalls = 40;
        await using var host = await GrpcTestHost.StartAsync(services =>
        {
            services.AddSingleton(SampleSource.Seeded(Seed));
            services.AddMatomoTracking(o =>
            {
                o.SiteId = 1;
                o.Sampling.Rate = Rate;
                o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
            }).UseInMemorySink();
            services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
        });

        // Every tenth call fails; each call draws one number, in order (the calls are made one after the other).
        var expectedOk = 0;
        var draws = new Random(Seed);
        for (var i = 0; i < okCalls + failedCalls; i++)
        {
            var fails = i % 11 == 10;
            var picked = draws.NextDouble() < Rate;
            if (fails)
            {
                var ex = Assert.ThrowsAsync<RpcException>(() => host.Greeter.SayHelloAsync(new HelloRequest { Name = "notfound" }).ResponseAsync.WaitAsync(TestTimeouts.Default));
                Assert.That(ex!.StatusCode, Is.EqualTo(StatusCode.NotFound), "sampling must not change what the client gets");
            }
            else
            {
                var reply = await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(TestTimeouts.Default);
                Assert.That(reply.Message, Is.EqualTo("Hello Ada"));
                expectedOk += picked ? 1 : 0;
            }
        }

        var hits = await host.Sink.WaitForHitsAsync(expectedOk + failedCalls, TestTimeouts.Default).WaitAsync(TestTimeouts.Default);

        TestContext.Out.WriteLine($"sampled {expectedOk} of {okCalls} successful calls");
        Assert.That(expectedOk, Is.InRange(0.2 * okCalls, 0.3 * okCalls), "the seeded source picks about a quarter");
        var ok = hits.Where(h => h.Hit.Outcome.Code == 0).ToList();
        var failed = hits.Where(h => h.Hit.Outcome.Code == 5).ToList();
        Assert.That(ok, Has.Count.EqualTo(expectedOk));
        Assert.That(failed, Has.Count.EqualTo(failedCalls), "every failed call is kept");
        Assert.That(ok.Select(h => h.CustomVariables()), Has.All.EqualTo(new[] { "status=OK (0)", "kind=unary", "sample=0.25" }));
        Assert.That(failed.Select(h => h.CustomVariables()), Has.All.EqualTo(new[] { "status=NotFound (5)", "kind=unary", "error=RpcException" }));
        Assert.That(failed.Select(h => h.Hit.SampleRate), Has.All.EqualTo(1.0));

        var stats = host.Services.GetRequiredService<MatomoTracker>().Statistics;
        Assert.That(stats.SampledOut, Is.EqualTo(okCalls - expectedOk));
        Assert.That(stats.Queued + stats.SampledOut, Is.EqualTo(okCalls + failedCalls), "every call is queued or sampled out, once");
        Assert.That(stats.Dropped, Is.Zero);
    }
}
