using System.Net;
using Google.Protobuf;
using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc.Tests.Support;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc.Tests;

public class MatomoInterceptorTests
{
    private static readonly HelloRequest Request = new() { Name = "Ada" };

    private TrackingHarness _harness = null!;

    [SetUp]
    public async Task SetUp() => _harness = await TrackingHarness.StartAsync();

    [TearDown]
    public async Task TearDown() => await _harness.DisposeAsync();

    // ---- call kinds -------------------------------------------------------------------------------------------

    [Test]
    public async Task UnaryServerHandler_Success_SendsOneHitWithActionUrlAndOkOutcome()
    {
        var context = CallContexts.Create();

        var reply = await _harness.Interceptor.UnaryServerHandler(Request, context, (r, c) => Task.FromResult(new HelloReply { Message = "Hello " + r.Name }))
            .WaitAsync(TestTimeouts.Default);

        Assert.That(reply.Message, Is.EqualTo("Hello Ada"));
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(hit["url"], Is.EqualTo("https://localhost/greet.Greeter/SayHello"));
        Assert.That(hit["idsite"], Is.EqualTo("1"));
        Assert.That(hit["rec"], Is.EqualTo("1"));
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=OK (0)", "kind=unary" }));
        Assert.That(hit.Hit.Outcome, Is.EqualTo(new MatomoOutcome("OK", 0, IsError: false)));
        Assert.That(hit.Hit.Kind, Is.EqualTo(MatomoCallKind.Unary));
    }

    [Test]
    public async Task UnaryServerHandler_HandlerTakes250Ms_RecordsDurationAsPfSrv()
    {
        var context = CallContexts.Create();

        await _harness.Interceptor.UnaryServerHandler(Request, context, (r, c) =>
        {
            _harness.Time.Advance(TimeSpan.FromMilliseconds(250));
            return Task.FromResult(new HelloReply());
        }).WaitAsync(TestTimeouts.Default);

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["pf_srv"], Is.EqualTo("250"));
        Assert.That(hit.Hit.Duration, Is.EqualTo(TimeSpan.FromMilliseconds(250)));
        Assert.That(hit["cdt"], Is.EqualTo("1795608000"), "2026-11-25 12:00:00 UTC in unix seconds");
    }

    [Test]
    public async Task ClientStreamingServerHandler_ThreeRequests_CountsThreeInOneOut()
    {
        var context = CallContexts.Create(CallContexts.SayHelloToMany);
        var requests = new ListStreamReader<HelloRequest>(new() { Name = "a" }, new() { Name = "b" }, new() { Name = "c" });

        var reply = await _harness.Interceptor.ClientStreamingServerHandler(requests, context, async (stream, c) =>
        {
            var names = new List<string>();
            while (await stream.MoveNext(c.CancellationToken))
            {
                names.Add(stream.Current.Name);
                _harness.Time.Advance(TimeSpan.FromMilliseconds(10));
            }

            return new HelloReply { Message = string.Join(",", names) };
        }).WaitAsync(TestTimeouts.Default);

        Assert.That(reply.Message, Is.EqualTo("a,b,c"));
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHelloToMany"));
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=OK (0)", "kind=client_streaming", "messages=in=3 out=1" }));
        Assert.That(hit["pf_srv"], Is.EqualTo("30"));
    }

    [Test]
    public async Task ServerStreamingServerHandler_ThreeReplies_CountsOneInThreeOutAndTimesTheWholeStream()
    {
        var context = CallContexts.Create(CallContexts.SayHelloStream);
        var writer = new ListStreamWriter<HelloReply>();
        using var cts = new CancellationTokenSource();

        await _harness.Interceptor.ServerStreamingServerHandler(new HelloRequest { Name = "Ada", Count = 3 }, writer, context, async (r, stream, c) =>
        {
            await stream.WriteAsync(new HelloReply { Message = "1" });
            _harness.Time.Advance(TimeSpan.FromMilliseconds(100));
            await stream.WriteAsync(new HelloReply { Message = "2" }, cts.Token);
            _harness.Time.Advance(TimeSpan.FromMilliseconds(100));
            await stream.WriteAsync(new HelloReply { Message = "3" });
        }).WaitAsync(TestTimeouts.Default);

        Assert.That(writer.Written.Select(m => m.Message), Is.EqualTo(new[] { "1", "2", "3" }));
        Assert.That(writer.Tokens[1], Is.EqualTo(cts.Token), "WriteAsync(T, CancellationToken) forwards the token");
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHelloStream"));
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=OK (0)", "kind=server_streaming", "messages=in=1 out=3" }));
        Assert.That(hit["pf_srv"], Is.EqualTo("200"));
    }

    [Test]
    public async Task DuplexStreamingServerHandler_EchoesThree_CountsThreeInThreeOut()
    {
        var context = CallContexts.Create(CallContexts.Chat);
        var requests = new ListStreamReader<HelloRequest>(new() { Name = "a" }, new() { Name = "b" }, new() { Name = "c" });
        var writer = new ListStreamWriter<HelloReply>();

        await _harness.Interceptor.DuplexStreamingServerHandler(requests, writer, context, async (input, output, c) =>
        {
            while (await input.MoveNext(c.CancellationToken))
            {
                await output.WriteAsync(new HelloReply { Message = input.Current.Name }, c.CancellationToken);
                _harness.Time.Advance(TimeSpan.FromMilliseconds(5));
            }
        }).WaitAsync(TestTimeouts.Default);

        Assert.That(writer.Written.Select(m => m.Message), Is.EqualTo(new[] { "a", "b", "c" }));
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/Chat"));
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=OK (0)", "kind=duplex_streaming", "messages=in=3 out=3" }));
        Assert.That(hit["pf_srv"], Is.EqualTo("15"));
    }

    [Test]
    public async Task ServerStreamingServerHandler_ServiceSetsWriteOptions_ForwardedToInnerWriterUntouchedOtherwise()
    {
        var context = CallContexts.Create(CallContexts.SayHelloStream);
        var writer = new ListStreamWriter<HelloReply>();
        var options = new WriteOptions(WriteFlags.NoCompress);
        WriteOptions? seen = null;

        await _harness.Interceptor.ServerStreamingServerHandler(Request, writer, context, async (r, stream, c) =>
        {
            await stream.WriteAsync(new HelloReply());
            Assert.That(writer.WriteOptionsGets + writer.WriteOptionsSets, Is.Zero, "the interceptor never reads or sets WriteOptions itself");
            stream.WriteOptions = options;
            seen = stream.WriteOptions;
        }).WaitAsync(TestTimeouts.Default);

        Assert.That(writer.WriteOptionsSets, Is.EqualTo(1));
        Assert.That(writer.WriteOptionsGets, Is.EqualTo(1));
        Assert.That(seen, Is.SameAs(options));
        await _harness.SingleHitAsync();
    }

    [Test]
    public async Task ClientStreamingServerHandler_ReaderFails_RecordsOnlyMessagesRead()
    {
        var context = CallContexts.Create(CallContexts.SayHelloToMany);
        using var cts = new CancellationTokenSource();
        var requests = new ListStreamReader<HelloRequest>(new() { Name = "a" }, new() { Name = "b" });

        var thrown = Assert.ThrowsAsync<OperationCanceledException>(() => _harness.Interceptor.ClientStreamingServerHandler(requests, context, async (stream, c) =>
        {
            await stream.MoveNext(CancellationToken.None);
            await cts.CancelAsync();
            await stream.MoveNext(cts.Token);
            return new HelloReply();
        }).WaitAsync(TestTimeouts.Default));

        Assert.That(thrown, Is.Not.Null);
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Does.Contain("messages=in=1 out=0"));
    }

    // ---- outcomes ---------------------------------------------------------------------------------------------

    [TestCase(StatusCode.OK, "OK (0)")]
    [TestCase(StatusCode.Cancelled, "Cancelled (1)")]
    [TestCase(StatusCode.Unknown, "Unknown (2)")]
    [TestCase(StatusCode.InvalidArgument, "InvalidArgument (3)")]
    [TestCase(StatusCode.DeadlineExceeded, "DeadlineExceeded (4)")]
    [TestCase(StatusCode.NotFound, "NotFound (5)")]
    [TestCase(StatusCode.AlreadyExists, "AlreadyExists (6)")]
    [TestCase(StatusCode.PermissionDenied, "PermissionDenied (7)")]
    [TestCase(StatusCode.ResourceExhausted, "ResourceExhausted (8)")]
    [TestCase(StatusCode.FailedPrecondition, "FailedPrecondition (9)")]
    [TestCase(StatusCode.Aborted, "Aborted (10)")]
    [TestCase(StatusCode.OutOfRange, "OutOfRange (11)")]
    [TestCase(StatusCode.Unimplemented, "Unimplemented (12)")]
    [TestCase(StatusCode.Internal, "Internal (13)")]
    [TestCase(StatusCode.Unavailable, "Unavailable (14)")]
    [TestCase(StatusCode.DataLoss, "DataLoss (15)")]
    [TestCase(StatusCode.Unauthenticated, "Unauthenticated (16)")]
    public async Task UnaryServerHandler_RpcException_RecordsItsStatusAndRethrowsTheSameException(StatusCode code, string expected)
    {
        var context = CallContexts.Create();
        var exception = new RpcException(new Status(code, "detail"), [new Metadata.Entry("reason", "test")]);

        var thrown = Assert.ThrowsAsync<RpcException>(() =>
            _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, (r, c) => throw exception).WaitAsync(TestTimeouts.Default));

        Assert.That(thrown, Is.SameAs(exception));
        Assert.That(thrown!.Trailers.Single().Value, Is.EqualTo("test"));
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=" + expected, "kind=unary", "error=RpcException" }));
        Assert.That(hit.Hit.Outcome.Name, Is.EqualTo(code.ToString()));
        Assert.That(hit.Hit.Outcome.Code, Is.EqualTo((int)code));
        Assert.That(hit.Hit.Outcome.IsError, Is.EqualTo(code != StatusCode.OK));
    }

    [Test]
    public async Task UnaryServerHandler_RpcExceptionFromAsyncHandler_RecordsItsStatus()
    {
        var context = CallContexts.Create();
        var exception = new RpcException(new Status(StatusCode.NotFound, "no such greeter"));

        var thrown = Assert.ThrowsAsync<RpcException>(() => _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, async (r, c) =>
        {
            await Task.Yield();
            throw exception;
        }).WaitAsync(TestTimeouts.Default));

        Assert.That(thrown, Is.SameAs(exception));
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=NotFound (5)"));
    }

    [Test]
    public async Task UnaryServerHandler_ServiceSetsStatus_RecordsThatStatus()
    {
        var context = CallContexts.Create();

        await _harness.Interceptor.UnaryServerHandler(Request, context, (r, c) =>
        {
            c.Status = new Status(StatusCode.FailedPrecondition, "not yet");
            return Task.FromResult(new HelloReply());
        }).WaitAsync(TestTimeouts.Default);

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=FailedPrecondition (9)", "kind=unary" }));
        Assert.That(hit.Hit.Outcome.IsError, Is.True);
    }

    [Test]
    public async Task ServerStreamingServerHandler_ServiceSetsStatusOk_RecordsOk()
    {
        var context = CallContexts.Create(CallContexts.SayHelloStream);

        await _harness.Interceptor.ServerStreamingServerHandler(Request, new ListStreamWriter<HelloReply>(), context, (r, s, c) =>
        {
            c.Status = Status.DefaultSuccess;
            return Task.CompletedTask;
        }).WaitAsync(TestTimeouts.Default);

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.Hit.Outcome, Is.EqualTo(new MatomoOutcome("OK", 0, false)));
    }

    [Test]
    public async Task UnaryServerHandler_UnhandledException_RecordsUnknownWithTypeAndRethrowsTheSameException()
    {
        var context = CallContexts.Create();
        var exception = new InvalidOperationException("boom");

        var thrown = Assert.ThrowsAsync<InvalidOperationException>(() =>
            _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, (r, c) => throw exception).WaitAsync(TestTimeouts.Default));

        Assert.That(thrown, Is.SameAs(exception));
        Assert.That(thrown!.StackTrace, Does.Contain(nameof(UnaryServerHandler_UnhandledException_RecordsUnknownWithTypeAndRethrowsTheSameException)), "stack trace kept");
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=Unknown (2)", "kind=unary", "error=InvalidOperationException" }));
        Assert.That(hit.Hit.Outcome.IsError, Is.True);
    }

    [Test]
    public async Task UnaryServerHandler_ServiceSetsStatusThenThrows_RecordsUnknownAsTheClientSeesIt()
    {
        var context = CallContexts.Create();

        Assert.ThrowsAsync<InvalidOperationException>(() => _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, (r, c) =>
        {
            c.Status = new Status(StatusCode.NotFound, "x");
            throw new InvalidOperationException();
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=Unknown (2)"));
    }

    [Test]
    public async Task UnaryServerHandler_CanceledAfterDeadlinePassed_RecordsDeadlineExceeded()
    {
        using var cts = new CancellationTokenSource();
        var deadline = TrackingHarness.Start.UtcDateTime.AddSeconds(1);
        var context = CallContexts.Create(deadline: deadline, cancellationToken: cts.Token);

        Assert.ThrowsAsync<OperationCanceledException>(() => _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, async (r, c) =>
        {
            _harness.Time.Advance(TimeSpan.FromSeconds(2));
            await cts.CancelAsync();
            c.CancellationToken.ThrowIfCancellationRequested();
            return new HelloReply();
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=DeadlineExceeded (4)", "kind=unary", "error=OperationCanceledException" }));
    }

    [Test]
    public async Task UnaryServerHandler_CanceledWithStatusDeadlineExceededSetByHost_RecordsDeadlineExceeded()
    {
        using var cts = new CancellationTokenSource();
        var context = CallContexts.Create(deadline: TrackingHarness.Start.UtcDateTime.AddMinutes(1), cancellationToken: cts.Token);

        Assert.ThrowsAsync<TaskCanceledException>(() => _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, async (r, c) =>
        {
            // What grpc-dotnet does when the deadline fires (its clock may be ahead of the tracker's).
            c.Status = new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
            await cts.CancelAsync();
            await Task.Delay(Timeout.Infinite, c.CancellationToken);
            return new HelloReply();
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=DeadlineExceeded (4)"));
    }

    [Test]
    public async Task UnaryServerHandler_CanceledByClientBeforeDeadline_RecordsCancelled()
    {
        using var cts = new CancellationTokenSource();
        var context = CallContexts.Create(deadline: TrackingHarness.Start.UtcDateTime.AddMinutes(1), cancellationToken: cts.Token);

        Assert.ThrowsAsync<TaskCanceledException>(() => _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, async (r, c) =>
        {
            await cts.CancelAsync();
            await Task.Delay(Timeout.Infinite, c.CancellationToken);
            return new HelloReply();
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=Cancelled (1)", "kind=unary", "error=TaskCanceledException" }));
    }

    [TestCase(100, "DeadlineExceeded (4)")]
    [TestCase(250, "DeadlineExceeded (4)")]
    [TestCase(400, "Cancelled (1)")]
    public async Task UnaryServerHandler_ClientResetsShortlyBeforeTheServersDeadline_CountsAsDeadlineOnlyWithinTolerance(int remainingMs, string expected)
    {
        using var cts = new CancellationTokenSource();
        var context = CallContexts.Create(deadline: TrackingHarness.Start.UtcDateTime.AddSeconds(1), cancellationToken: cts.Token);

        Assert.ThrowsAsync<TaskCanceledException>(() => _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, async (r, c) =>
        {
            _harness.Time.Advance(TimeSpan.FromMilliseconds(1000 - remainingMs));
            await cts.CancelAsync();
            await Task.Delay(Timeout.Infinite, c.CancellationToken);
            return new HelloReply();
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=" + expected));
    }

    // The handler ignores its deadline and returns normally: the client gave up at the deadline, so the hit says so.
    [TestCase(1500, "DeadlineExceeded (4)")]
    [TestCase(1000, "DeadlineExceeded (4)")]
    [TestCase(999, "OK (0)")]
    public async Task UnaryServerHandler_ReturnsNormallyAroundTheDeadline_DeadlineExceededOnceItPassed(int elapsedMs, string expected)
    {
        var context = CallContexts.Create(deadline: TrackingHarness.Start.UtcDateTime.AddSeconds(1));

        var reply = await _harness.Interceptor.UnaryServerHandler(Request, context, (r, c) =>
        {
            _harness.Time.Advance(TimeSpan.FromMilliseconds(elapsedMs));
            return Task.FromResult(new HelloReply());
        }).WaitAsync(TestTimeouts.Default);

        Assert.That(reply, Is.Not.Null, "the call itself is not changed");
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=" + expected));
        Assert.That(hit.Hit.ErrorType, Is.Null);
    }

    [Test]
    public async Task UnaryServerHandler_RpcExceptionAfterTheDeadlinePassed_RecordsDeadlineExceeded()
    {
        var context = CallContexts.Create(deadline: TrackingHarness.Start.UtcDateTime.AddSeconds(1));

        Assert.ThrowsAsync<RpcException>(() => _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, async (r, c) =>
        {
            await Task.Yield();
            _harness.Time.Advance(TimeSpan.FromSeconds(2));
            throw new RpcException(new Status(StatusCode.Unavailable, "late"));
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=DeadlineExceeded (4)", "kind=unary", "error=RpcException" }));
    }

    [Test]
    public async Task ServerStreamingServerHandler_EndsAfterTheDeadlinePassed_RecordsDeadlineExceeded()
    {
        var context = CallContexts.Create(CallContexts.SayHelloStream, deadline: TrackingHarness.Start.UtcDateTime.AddMilliseconds(100));

        await _harness.Interceptor.ServerStreamingServerHandler(Request, new ListStreamWriter<HelloReply>(), context, async (r, s, c) =>
        {
            await s.WriteAsync(new HelloReply());
            _harness.Time.Advance(TimeSpan.FromMilliseconds(100));
        }).WaitAsync(TestTimeouts.Default);

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=DeadlineExceeded (4)", "kind=server_streaming", "messages=in=1 out=1" }));
    }

    [Test]
    public async Task UnaryServerHandler_OwnOperationCanceledShortlyBeforeDeadline_RecordsUnknown()
    {
        var context = CallContexts.Create(deadline: TrackingHarness.Start.UtcDateTime.AddSeconds(1));

        Assert.ThrowsAsync<OperationCanceledException>(() => _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, (r, c) =>
        {
            _harness.Time.Advance(TimeSpan.FromMilliseconds(900));
            throw new OperationCanceledException();
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=Unknown (2)"), "the call itself was not cancelled");
    }

    [Test]
    public async Task ServerStreamingServerHandler_ReturnsNormallyAfterClientCancelled_RecordsCancelled()
    {
        using var cts = new CancellationTokenSource();
        var context = CallContexts.Create(CallContexts.SayHelloStream, cancellationToken: cts.Token);

        await _harness.Interceptor.ServerStreamingServerHandler(Request, new ListStreamWriter<HelloReply>(), context, async (r, s, c) =>
        {
            await s.WriteAsync(new HelloReply());
            await cts.CancelAsync();
        }).WaitAsync(TestTimeouts.Default);

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=Cancelled (1)", "kind=server_streaming", "messages=in=1 out=1" }));
    }

    [Test]
    public async Task UnaryServerHandler_OperationCanceledNotFromTheCall_RecordsUnknown()
    {
        var context = CallContexts.Create();

        Assert.ThrowsAsync<OperationCanceledException>(() =>
            _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, (r, c) => throw new OperationCanceledException()).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=Unknown (2)"));
    }

    [Test]
    public async Task DuplexStreamingServerHandler_RpcExceptionMidStream_RecordsStatusAndMessagesSoFar()
    {
        var context = CallContexts.Create(CallContexts.Chat);
        var requests = new ListStreamReader<HelloRequest>(new() { Name = "a" }, new() { Name = "b" });
        var writer = new ListStreamWriter<HelloReply>();

        Assert.ThrowsAsync<RpcException>(() => _harness.Interceptor.DuplexStreamingServerHandler(requests, writer, context, async (input, output, c) =>
        {
            await input.MoveNext(c.CancellationToken);
            await output.WriteAsync(new HelloReply());
            throw new RpcException(new Status(StatusCode.ResourceExhausted, "slow down"));
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=ResourceExhausted (8)", "kind=duplex_streaming", "messages=in=1 out=1", "error=RpcException" }));
    }

    // Seen with @grpc/grpc-js against Kestrel (tests/Matomo.Rpc.RealMatomo.Tests/Interop): a client's cancel resets the
    // stream; Kestrel fails the request body with an IOException at once and cancels the call's token later, on the
    // thread pool, so the handler can end before the token says "cancelled". The client saw Cancelled, not Unknown.
    [Test]
    public async Task DuplexStreamingServerHandler_RequestStreamResetBeforeTokenCancelled_RecordsCancelled()
    {
        var context = CallContexts.Create(CallContexts.Chat);
        var requests = new ResetStreamReader<HelloRequest>(new HelloRequest { Name = "p" });
        var writer = new ListStreamWriter<HelloReply>();

        Assert.ThrowsAsync<IOException>(() => _harness.Interceptor.DuplexStreamingServerHandler(requests, writer, context, async (input, output, c) =>
        {
            while (await input.MoveNext(c.CancellationToken))
            {
                await output.WriteAsync(new HelloReply { Message = input.Current.Name }, c.CancellationToken);
            }
        }).WaitAsync(TestTimeouts.Default));

        Assert.That(context.CancellationToken.IsCancellationRequested, Is.False);
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=Cancelled (1)", "kind=duplex_streaming", "messages=in=1 out=1", "error=IOException" }));
    }

    [Test]
    public async Task ClientStreamingServerHandler_RequestStreamResetThenHandlerThrowsOther_RecordsCancelled()
    {
        var context = CallContexts.Create(CallContexts.SayHelloToMany);
        var requests = new ResetStreamReader<HelloRequest>();

        Assert.ThrowsAsync<InvalidOperationException>(() => _harness.Interceptor.ClientStreamingServerHandler(requests, context, async (input, c) =>
        {
            try
            {
                await input.MoveNext(c.CancellationToken);
            }
            catch (IOException ex)
            {
                throw new InvalidOperationException("wrapped", ex);
            }

            return new HelloReply();
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=Cancelled (1)"), "the client was gone, whatever the handler did next");
    }

    // A message the deserializer rejects fails the read with Google.Protobuf's InvalidProtocolBufferException, an
    // IOException too: the handler failed, the client gets Unknown; the stream is not broken (found with Python grpcio).
    [Test]
    public async Task ClientStreamingServerHandler_RequestMessageUndecodable_RecordsUnknown()
    {
        var context = CallContexts.Create(CallContexts.SayHelloToMany);
        var undecodable = Assert.Throws<InvalidProtocolBufferException>(() => HelloRequest.Parser.ParseFrom([0xFF, 0xFF, 0xFF]))!;
        var requests = new FailingStreamReader<HelloRequest>(undecodable, new HelloRequest { Name = "a" });

        Assert.ThrowsAsync<InvalidProtocolBufferException>(() => _harness.Interceptor.ClientStreamingServerHandler(requests, context, async (input, c) =>
        {
            while (await input.MoveNext(c.CancellationToken))
            {
            }

            return new HelloReply();
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=Unknown (2)", "kind=client_streaming", "messages=in=1 out=0", "error=InvalidProtocolBufferException" }));
    }

    // A connection lost while the service reads (HTTP/1.1, gRPC-Web) fails the read with one of ASP.NET Core's own
    // IOExceptions: the client is gone, as with a reset stream.
    [TestCase(typeof(ConnectionResetException))]
    [TestCase(typeof(BadHttpRequestException))]
    public async Task ClientStreamingServerHandler_ConnectionLostWhileReading_RecordsCancelled(Type failure)
    {
        var context = CallContexts.Create(CallContexts.SayHelloToMany);
        var requests = new FailingStreamReader<HelloRequest>((IOException)Activator.CreateInstance(failure, "Unexpected end of request content.")!);

        Assert.ThrowsAsync(failure, () => _harness.Interceptor.ClientStreamingServerHandler(requests, context, async (input, c) =>
        {
            await input.MoveNext(c.CancellationToken);
            return new HelloReply();
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=Cancelled (1)", "kind=client_streaming", "messages=in=0 out=0", "error=" + failure.Name }));
    }

    [Test]
    public async Task DuplexStreamingServerHandler_ServiceCodesOwnIOException_RecordsUnknown()
    {
        var context = CallContexts.Create(CallContexts.Chat);
        var requests = new ListStreamReader<HelloRequest>(new HelloRequest { Name = "a" });
        var writer = new ListStreamWriter<HelloReply>();

        Assert.ThrowsAsync<IOException>(() => _harness.Interceptor.DuplexStreamingServerHandler(requests, writer, context, async (input, output, c) =>
        {
            await input.MoveNext(c.CancellationToken);
            throw new IOException("the service's disk");
        }).WaitAsync(TestTimeouts.Default));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=Unknown (2)", "kind=duplex_streaming", "messages=in=1 out=0", "error=IOException" }));
    }

    [Test]
    public async Task UnaryServerHandler_ContinuationThrowsSynchronously_StillRecordedAndRethrown()
    {
        var context = CallContexts.Create();
        var exception = new ArgumentException("sync");

        var thrown = Assert.ThrowsAsync<ArgumentException>(() =>
            _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, (r, c) => throw exception));

        Assert.That(thrown, Is.SameAs(exception));
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Does.Contain("error=ArgumentException"));
    }

    // ---- exclusions -------------------------------------------------------------------------------------------

    [Test]
    public async Task UnaryServerHandler_HealthCheck_ReturnsTheContinuationsTaskAndSendsNoHit()
    {
        var context = CallContexts.Create("/grpc.health.v1.Health/Check");
        var expected = Task.FromResult(new HelloReply());

        var task = _harness.Interceptor.UnaryServerHandler(Request, context, (r, c) => expected);

        Assert.That(task, Is.SameAs(expected), "no async state machine on an excluded call");
        Assert.That(context.GetMatomoCall(), Is.Null);
        await Task.Yield();
        Assert.That(_harness.Queued, Is.Zero);
    }

    [Test]
    public void UnaryServerHandler_ExcludedCall_AllocatesNothing()
    {
        var context = CallContexts.Create("/grpc.health.v1.Health/Check");
        var completed = Task.FromResult(new HelloReply());
        UnaryServerMethod<HelloRequest, HelloReply> continuation = (r, c) => completed;
        for (var i = 0; i < 100; i++)
        {
            _harness.Interceptor.UnaryServerHandler(Request, context, continuation);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            _harness.Interceptor.UnaryServerHandler(Request, context, continuation);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(allocated, Is.Zero);
        Assert.That(_harness.Queued, Is.Zero);
    }

    [Test]
    public void ServerStreamingServerHandler_HealthWatch_PassesTheStreamUnwrappedAndSendsNoHit()
    {
        var context = CallContexts.Create("/grpc.health.v1.Health/Watch");
        var writer = new ListStreamWriter<HelloReply>();
        IServerStreamWriter<HelloReply>? passed = null;

        var task = _harness.Interceptor.ServerStreamingServerHandler(Request, writer, context, (r, s, c) =>
        {
            passed = s;
            return Task.CompletedTask;
        });

        Assert.That(task, Is.SameAs(Task.CompletedTask));
        Assert.That(passed, Is.SameAs(writer));
        Assert.That(_harness.Queued, Is.Zero);
    }

    [TestCase("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")]
    [TestCase("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")]
    public void DuplexStreamingServerHandler_Reflection_PassesStreamsUnwrappedAndSendsNoHit(string method)
    {
        var context = CallContexts.Create(method);
        var reader = new ListStreamReader<HelloRequest>();
        var writer = new ListStreamWriter<HelloReply>();
        object? passedReader = null;
        object? passedWriter = null;

        var task = _harness.Interceptor.DuplexStreamingServerHandler(reader, writer, context, (i, o, c) =>
        {
            passedReader = i;
            passedWriter = o;
            return Task.CompletedTask;
        });

        Assert.That(task, Is.SameAs(Task.CompletedTask));
        Assert.That(passedReader, Is.SameAs(reader));
        Assert.That(passedWriter, Is.SameAs(writer));
        Assert.That(_harness.Queued, Is.Zero);
    }

    [Test]
    public async Task ClientStreamingServerHandler_ExcludedAction_SendsNoHit()
    {
        await using var harness = await TrackingHarness.StartAsync(o => o.ExcludedActions.Add("greet.Greeter/SayHelloToMany"));
        var context = CallContexts.Create(CallContexts.SayHelloToMany);
        var reader = new ListStreamReader<HelloRequest>(new HelloRequest());
        object? passed = null;

        await harness.Interceptor.ClientStreamingServerHandler(reader, context, (s, c) =>
        {
            passed = s;
            return Task.FromResult(new HelloReply());
        }).WaitAsync(TestTimeouts.Default);

        Assert.That(passed, Is.SameAs(reader));
        Assert.That(harness.Queued, Is.Zero);
    }

    [Test]
    public async Task ServerStreamingServerHandler_IgnoredCallKind_SendsNoHitButUnaryIsTracked()
    {
        await using var harness = await TrackingHarness.StartAsync(o => o.IgnoredCallKinds.Add(MatomoCallKind.ServerStreaming));

        await harness.Interceptor.ServerStreamingServerHandler(Request, new ListStreamWriter<HelloReply>(), CallContexts.Create(CallContexts.SayHelloStream), (r, s, c) => Task.CompletedTask)
            .WaitAsync(TestTimeouts.Default);
        await harness.Interceptor.UnaryServerHandler(Request, CallContexts.Create(), (r, c) => Task.FromResult(new HelloReply()))
            .WaitAsync(TestTimeouts.Default);

        var hit = await harness.SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHello"));
    }

    [Test]
    public async Task UnaryServerHandler_IgnoredUserAgent_SendsNoHit()
    {
        await using var harness = await TrackingHarness.StartAsync(o => o.IgnoredUserAgentPatterns.Add("^kube-probe/"));
        var http = new DefaultHttpContext();
        http.Request.Headers.UserAgent = "kube-probe/1.29";

        await harness.Interceptor.UnaryServerHandler(Request, CallContexts.WithHttpContext(http), (r, c) => Task.FromResult(new HelloReply()))
            .WaitAsync(TestTimeouts.Default);

        Assert.That(harness.Queued, Is.Zero);
    }

    [Test]
    public async Task UnaryServerHandler_ActionDetails_AppliedToTheHit()
    {
        await using var harness = await TrackingHarness.StartAsync(o => o.ActionDetails["greet.Greeter/SayHello"] = new() { ["action_name"] = "Greeting", ["e_c"] = "rpc", ["e_a"] = "hello" });

        await harness.Interceptor.UnaryServerHandler(Request, CallContexts.Create(), (r, c) => Task.FromResult(new HelloReply()))
            .WaitAsync(TestTimeouts.Default);

        var hit = await harness.SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("Greeting"));
        Assert.That(hit["e_c"], Is.EqualTo("rpc"));
        Assert.That(hit["e_a"], Is.EqualTo("hello"));
        Assert.That(hit["url"], Is.EqualTo("https://localhost/greet.Greeter/SayHello"));
    }

    // ---- caller -----------------------------------------------------------------------------------------------

    [Test]
    public async Task UnaryServerHandler_WithHttpContext_RecordsCallerHeadersHostAndVisitor()
    {
        var http = new DefaultHttpContext();
        http.Request.Host = new HostString("api.example.org");
        http.Request.Scheme = "http";
        http.Request.Headers.UserAgent = "grpc-dotnet/2.80.0 (.NET 10.0; CLR 10.0.0; net10.0; linux; x64)";
        http.Request.Headers.AcceptLanguage = "fr-CH, fr;q=0.9";
        http.Request.Headers.Referer = "https://app.example.org/orders";
        http.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.7");

        await _harness.Interceptor.UnaryServerHandler(Request, CallContexts.WithHttpContext(http), (r, c) => Task.FromResult(new HelloReply()))
            .WaitAsync(TestTimeouts.Default);

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["url"], Is.EqualTo("https://api.example.org/greet.Greeter/SayHello"));
        Assert.That(hit["ua"], Is.EqualTo("grpc-dotnet/2.80.0 (.NET 10.0; CLR 10.0.0; net10.0; linux; x64)"));
        Assert.That(hit["lang"], Is.EqualTo("fr-CH, fr;q=0.9"));
        Assert.That(hit["urlref"], Is.EqualTo("https://app.example.org/orders"));
        Assert.That(hit["cid"], Does.Match("^[0-9a-f]{16}$"));
        Assert.That(hit.Hit.Caller.RemoteAddress, Is.EqualTo(IPAddress.Parse("203.0.113.7")));
        Assert.That(hit.Parameters.ContainsKey("cip"), Is.False, "no cip without a token");
    }

    [Test]
    public async Task UnaryServerHandler_UserIdIdentityPlain_SendsAuthenticatedUserAsUid()
    {
        await using var harness = await TrackingHarness.StartAsync(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.UserId;
            o.UserId.Mode = MatomoUserIdMode.Plain;
        });
        var http = new DefaultHttpContext
        {
            User = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity([new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.Name, "ada")], "test")),
        };

        await harness.Interceptor.UnaryServerHandler(Request, CallContexts.WithHttpContext(http), (r, c) => Task.FromResult(new HelloReply()))
            .WaitAsync(TestTimeouts.Default);

        var hit = await harness.SingleHitAsync();
        Assert.That(hit["uid"], Is.EqualTo("ada"));
        Assert.That(hit.Parameters.ContainsKey("cid"), Is.False);
    }

    [Test]
    public async Task UnaryServerHandler_WithoutHttpContext_TracksWithTheContextsHost()
    {
        var context = CallContexts.Create(host: "greeter.internal:5001");

        await _harness.Interceptor.UnaryServerHandler(Request, context, (r, c) => Task.FromResult(new HelloReply()))
            .WaitAsync(TestTimeouts.Default);

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["url"], Is.EqualTo("https://greeter.internal:5001/greet.Greeter/SayHello"));
        Assert.That(hit.Parameters.ContainsKey("ua"), Is.False);
    }

    // ---- robustness -------------------------------------------------------------------------------------------

    [Test]
    public async Task UnaryServerHandler_ContextThrowsOnTrailersAndWriteOptions_TrackedWithoutTouchingThem()
    {
        var context = new FakeServerCallContext(CallContexts.SayHello, likeJsonTranscoding: true);

        var reply = await _harness.Interceptor.UnaryServerHandler(Request, context, (r, c) => Task.FromResult(new HelloReply { Message = "ok" }))
            .WaitAsync(TestTimeouts.Default);

        Assert.That(reply.Message, Is.EqualTo("ok"));
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=OK (0)"));
    }

    [Test]
    public async Task ServerStreamingServerHandler_ContextThrowsOnTrailersAndWriteOptions_TrackedWithoutTouchingThem()
    {
        var context = new FakeServerCallContext(CallContexts.SayHelloStream, likeJsonTranscoding: true);
        var writer = new ListStreamWriter<HelloReply>();

        await _harness.Interceptor.ServerStreamingServerHandler(Request, writer, context, async (r, s, c) => await s.WriteAsync(new HelloReply()))
            .WaitAsync(TestTimeouts.Default);

        Assert.That(writer.WriteOptionsGets + writer.WriteOptionsSets, Is.Zero);
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Does.Contain("messages=in=1 out=1"));
    }

    [Test]
    public async Task UnaryServerHandler_TrackingFailsAtStart_CallRunsUntrackedAndSucceeds()
    {
        var context = new FakeServerCallContext(CallContexts.SayHello, likeJsonTranscoding: true) { ThrowOnUserState = true };

        var reply = await _harness.Interceptor.UnaryServerHandler(Request, context, (r, c) => Task.FromResult(new HelloReply { Message = "ok" }))
            .WaitAsync(TestTimeouts.Default);

        Assert.That(reply.Message, Is.EqualTo("ok"));
        Assert.That(_harness.Queued, Is.Zero);
    }

    [Test]
    public async Task UnaryServerHandler_TrackingFailsAtEnd_CallSucceedsAndFailureIsLogged()
    {
        var logs = new ListLoggerProvider();
        await using var services = new ServiceCollection().AddLogging(b => b.AddProvider(logs)).BuildServiceProvider();
        var context = new FakeServerCallContext(CallContexts.SayHello, likeJsonTranscoding: true);
        context.UserState[CallContexts.HttpContextKey] = new DefaultHttpContext { RequestServices = services };

        var interceptor = new MatomoInterceptor(_harness.Tracker, services.GetRequiredService<ILogger<MatomoInterceptor>>());

        var reply = await interceptor.UnaryServerHandler(Request, context, (r, c) =>
        {
            ((FakeServerCallContext)c).ThrowOnStatus = true;
            return Task.FromResult(new HelloReply { Message = "ok" });
        }).WaitAsync(TestTimeouts.Default);

        Assert.That(reply.Message, Is.EqualTo("ok"));
        Assert.That(_harness.Queued, Is.Zero);
        Assert.That(logs.Entries.Select(e => e.EventId.Name), Does.Contain("GrpcTrackingFailed"));
        Assert.That(logs.Entries.Single(e => e.EventId.Name == "GrpcTrackingFailed").EventId.Id, Is.EqualTo(100));
    }

    [Test]
    public async Task UnaryServerHandler_TrackingFailsAtEndOfFailedCall_RethrowsTheServiceException()
    {
        var context = new FakeServerCallContext(CallContexts.SayHello, likeJsonTranscoding: true);
        var exception = new RpcException(new Status(StatusCode.Internal, "x"));

        var thrown = Assert.ThrowsAsync<RpcException>(() => _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, context, (r, c) =>
        {
            ((FakeServerCallContext)c).ThrowOnStatus = true;
            throw exception;
        }).WaitAsync(TestTimeouts.Default));

        Assert.That(thrown, Is.SameAs(exception));
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables()[0], Is.EqualTo("status=Internal (13)"), "an RpcException needs no Status read");
    }

    [Test]
    public async Task UnaryServerHandler_TwoMatomoInterceptorsOnOneCall_SendsOneHit()
    {
        var context = CallContexts.Create();
        var inner = ActivatorUtilities.CreateInstance<MatomoInterceptor>(_harness.Services);

        await _harness.Interceptor.UnaryServerHandler(Request, context, (r, c) => inner.UnaryServerHandler(r, c, (r2, c2) => Task.FromResult(new HelloReply())))
            .WaitAsync(TestTimeouts.Default);

        await _harness.SingleHitAsync();
    }

    [Test]
    public void Interceptor_Type_IsPublicSealedWithOnlyTheOptionalTrackerAndLoggerConstructor()
    {
        var type = typeof(MatomoInterceptor);

        var constructors = type.GetConstructors();

        Assert.That(type.IsSealed && type.IsPublic, Is.True);
        Assert.That(constructors, Has.Length.EqualTo(1));
        Assert.That(constructors[0].GetParameters().Select(p => p.ParameterType), Is.EqualTo(new[] { typeof(MatomoTracker), typeof(ILogger<MatomoInterceptor>) }));
        Assert.That(constructors[0].GetParameters().Select(p => p.HasDefaultValue), Has.All.True, "DI can create it without AddMatomoTracking");
    }

    /// <summary>A request stream that yields its messages, then fails as Kestrel fails it when the client resets the stream.</summary>
    private sealed class ResetStreamReader<T>(params T[] messages) : FailingStreamReader<T>(new IOException("The client reset the request stream."), messages);

    /// <summary>A request stream that yields its messages, then fails with <paramref name="failure"/>.</summary>
    private class FailingStreamReader<T>(IOException failure, params T[] messages) : IAsyncStreamReader<T>
    {
        private int _index = -1;

        public T Current => messages[_index];

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            await Task.Yield();
            if (++_index < messages.Length)
            {
                return true;
            }

            throw failure;
        }
    }
}
