using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.Grpc.Tests;

/// <summary>What a client sees (reply, status, detail, headers, trailers) is the same with and without the interceptor.</summary>
public class GrpcTransparencyTests
{
    private GrpcTestHost _tracked = null!;
    private GrpcTestHost _plain = null!;

    [OneTimeSetUp]
    public async Task OneTimeSetUp()
    {
        _tracked = await GrpcTestHost.StartAsync(services =>
        {
            services.AddMatomoTracking(o => o.SiteId = 1).UseInMemorySink();
            services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
        });
        _plain = await GrpcTestHost.StartAsync(services => services.AddGrpc());
    }

    [OneTimeTearDown]
    public async Task OneTimeTearDown()
    {
        await _tracked.DisposeAsync();
        await _plain.DisposeAsync();
    }

    [TestCase("Ada")]
    [TestCase("notfound")]
    [TestCase("crash")]
    [TestCase("status")]
    [TestCase("vars")]
    public async Task SayHello_WithAndWithoutInterceptor_ClientSeesTheSame(string name)
    {
        var expected = await ObserveUnaryAsync(_plain, name, deadline: null);

        var actual = await ObserveUnaryAsync(_tracked, name, deadline: null);

        TestContext.Out.WriteLine(actual);
        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public async Task SayHello_DeadlineWithAndWithoutInterceptor_ClientSeesTheSame()
    {
        var expected = await ObserveUnaryAsync(_plain, "wait", DateTime.UtcNow.AddMilliseconds(500));

        var actual = await ObserveUnaryAsync(_tracked, "wait", DateTime.UtcNow.AddMilliseconds(500));

        Assert.That(actual, Does.Contain("DeadlineExceeded"));
        TestContext.Out.WriteLine(actual);
        Assert.That(WithoutDeadlineRace(actual), Is.EqualTo(WithoutDeadlineRace(expected)));
    }

    // The client's and the server's deadline timers race, with or without tracking: when the client's own fires first the
    // call ends with an empty detail, no headers and no trailers; when the server's does, with "Deadline Exceeded", the
    // server's headers and trailers. Which one fired is not the interceptor's doing: only the status must agree.
    private static string WithoutDeadlineRace(string observation) =>
        observation.Contains("; status: DeadlineExceeded '", StringComparison.Ordinal) ? "status: DeadlineExceeded" : observation;

    [TestCase("Ada")]
    [TestCase("notfound")]
    [TestCase("crash")]
    [TestCase("status")]
    public async Task SayHelloStream_WithAndWithoutInterceptor_ClientSeesTheSame(string name)
    {
        var expected = await ObserveServerStreamAsync(_plain, name);

        var actual = await ObserveServerStreamAsync(_tracked, name);

        TestContext.Out.WriteLine(actual);
        Assert.That(actual, Is.EqualTo(expected));
    }

    [TestCase("Ada")]
    [TestCase("notfound")]
    [TestCase("crash")]
    public async Task Chat_WithAndWithoutInterceptor_ClientSeesTheSame(string name)
    {
        var expected = await ObserveDuplexAsync(_plain, name);

        var actual = await ObserveDuplexAsync(_tracked, name);

        TestContext.Out.WriteLine(actual);
        Assert.That(actual, Is.EqualTo(expected));
    }

    private static async Task<string> ObserveUnaryAsync(GrpcTestHost host, string name, DateTime? deadline)
    {
        using var call = host.Greeter.SayHelloAsync(new HelloRequest { Name = name }, deadline: deadline);
        var reply = await Capture(async () => (await call.ResponseAsync.WaitAsync(TestTimeouts.Default)).Message);
        var headers = await Capture(async () => Describe(await call.ResponseHeadersAsync.WaitAsync(TestTimeouts.Default)));
        return Describe(reply, headers, call.GetStatus(), Capture(() => Describe(call.GetTrailers())));
    }

    private static async Task<string> ObserveServerStreamAsync(GrpcTestHost host, string name)
    {
        using var call = host.Greeter.SayHelloStream(new HelloRequest { Name = name, Count = 2 });
        var replies = await Capture(async () => string.Join("|", (await call.ResponseStream.ReadAllAsync().ToListAsync().AsTask().WaitAsync(TestTimeouts.Default)).Select(r => r.Message)));
        var headers = await Capture(async () => Describe(await call.ResponseHeadersAsync.WaitAsync(TestTimeouts.Default)));
        return Describe(replies, headers, call.GetStatus(), Capture(() => Describe(call.GetTrailers())));
    }

    private static async Task<string> ObserveDuplexAsync(GrpcTestHost host, string name)
    {
        using var call = host.Greeter.Chat();
        var sent = await Capture(async () =>
        {
            await call.RequestStream.WriteAsync(new HelloRequest { Name = "first" }).WaitAsync(TestTimeouts.Default);
            await call.RequestStream.WriteAsync(new HelloRequest { Name = name }).WaitAsync(TestTimeouts.Default);
            await call.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Default);
            return "sent";
        });
        var replies = await Capture(async () => string.Join("|", (await call.ResponseStream.ReadAllAsync().ToListAsync().AsTask().WaitAsync(TestTimeouts.Default)).Select(r => r.Message)));
        var headers = await Capture(async () => Describe(await call.ResponseHeadersAsync.WaitAsync(TestTimeouts.Default)));
        return sent + " " + Describe(replies, headers, call.GetStatus(), Capture(() => Describe(call.GetTrailers())));
    }

    private static string Describe(string reply, string headers, Status status, string trailers) =>
        $"reply: {reply}; status: {status.StatusCode} '{status.Detail}'; headers: {headers}; trailers: {trailers}";

    // The date header changes from one second to the next; every other header must be the same.
    private static string Describe(Metadata metadata) =>
        string.Join(", ", metadata.Where(e => e.Key != "date").Select(e => e.Key + "=" + (e.IsBinary ? Convert.ToBase64String(e.ValueBytes) : e.Value)));

    private static async Task<string> Capture(Func<Task<string>> action)
    {
        try
        {
            return await action();
        }
        catch (RpcException ex)
        {
            return $"RpcException({ex.StatusCode}, '{ex.Status.Detail}', [{Describe(ex.Trailers)}])";
        }
        catch (InvalidOperationException)
        {
            return "InvalidOperationException";
        }
    }

    private static string Capture(Func<string> action)
    {
        try
        {
            return action();
        }
        catch (InvalidOperationException)
        {
            return "InvalidOperationException";
        }
    }
}
