using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc;
using Matomo.Rpc.AspNetCore.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.AspNetCore.Tests;

/// <summary>
/// gRPC calls that grpc-dotnet fails before the interceptor pipeline runs (it reads and decodes a unary or
/// server-streaming request first), on a real Kestrel host with the interceptor and <c>UseMatomoTracking</c>: which
/// failures skip the interceptor, what the client gets, and that the HTTP adapter tracks each such call once, as the
/// gRPC method, while calls the interceptor saw (tracked, opted out, sampled out) are never tracked again.
/// </summary>
public sealed class GrpcFailedBeforeInterceptorTests : StandInTests
{
    private const int MaxReceive = 64;
    private static readonly TimeSpan Timeout = HttpTestHost.Timeout;
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);


    private Task<HttpTestHost> StartAsync(Action<HttpTestHostOptions>? configure = null) =>
        HttpTestHost.StartAsync(StandIn, o =>
        {
            o.Grpc = g => g.MaxReceiveMessageSize = MaxReceive;
            configure?.Invoke(o);
        }, Logs);

    private bool AdapterTrackedAGrpcCall() => Logs.Entries.Any(e => e.EventId.Name == "GrpcCallNotSeenByInterceptor");

    private static string[] Variables(StoredHit hit) => [.. hit.CustomVariables.Select(c => c.Key + ": " + c.Value)];

    private static byte[] Oversized() => new HelloRequest { Name = new string('a', MaxReceive * 4) }.ToByteArray();

    // A string field (1) that says 5 bytes follow, and only one does.
    private static byte[] Truncated() => [0x0A, 0x05, 0x41];

    /// <summary>A call of <paramref name="method"/> whose request message is <paramref name="message"/> as it is; returns the status the client got.</summary>
    private static async Task<StatusCode> CallAsync(HttpTestHost host, MethodType type, string method, byte[] message)
    {
        var invoker = host.Channel.CreateCallInvoker();
        var descriptor = new Method<byte[], byte[]>(type, "greet.Greeter", method, Bytes, Bytes);
        try
        {
            if (type == MethodType.ServerStreaming)
            {
                using var stream = invoker.AsyncServerStreamingCall(descriptor, null, new CallOptions(), message);
                while (await stream.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout))
                {
                }
            }
            else
            {
                using var call = invoker.AsyncUnaryCall(descriptor, null, new CallOptions(), message);
                await call.ResponseAsync.WaitAsync(Timeout);
            }

            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    private static byte[] Frame(byte[] message, bool compressedFlag = false, int? length = null)
    {
        var frame = new byte[5 + message.Length];
        frame[0] = compressedFlag ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), length ?? message.Length);
        message.CopyTo(frame, 5);
        return frame;
    }

    /// <summary>The body of a raw request: <c>message</c> (one frame), <c>compressed</c> (the compressed flag on an uncompressed message), <c>empty</c>, <c>two</c> (two messages), <c>cut</c> (a frame that says more than it holds).</summary>
    private static byte[] Body(string shape)
    {
        var message = new HelloRequest { Name = "Ada" }.ToByteArray();
        return shape switch
        {
            "message" => Frame(message),
            "compressed" => Frame(message, compressedFlag: true),
            "empty" => [],
            "two" => [.. Frame(message), .. Frame(message)],
            "cut" => Frame(message, length: message.Length + 10),
            _ => throw new ArgumentOutOfRangeException(nameof(shape)),
        };
    }

    /// <summary>A raw POST to SayHello; returns the HTTP status and the grpc-status (headers, else trailers), or null.</summary>
    private static async Task<(HttpStatusCode Http, string? Grpc)> PostAsync(Uri address, Version version, string contentType, byte[] body, params string[] headers)
    {
        using var client = new HttpClient { Timeout = Timeout };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(address, "/greet.Greeter/SayHello"))
        {
            Version = version,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        foreach (var header in headers)
        {
            var colon = header.IndexOf(':', StringComparison.Ordinal);
            request.Headers.TryAddWithoutValidation(header[..colon], header[(colon + 1)..]);
        }

        using var response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        var status = response.Headers.TryGetValues("grpc-status", out var values) || response.TrailingHeaders.TryGetValues("grpc-status", out values)
            ? values.Single()
            : null;
        return (response.StatusCode, status);
    }

    /// <summary>Waits until the server completed the request for <paramref name="path"/>, then for exactly <paramref name="count"/> stored hits.</summary>
    private async Task<IReadOnlyList<StoredHit>> HitsAsync(HttpTestHost host, int count, string path)
    {
        await host.Completed.WaitForAsync(path, Timeout);
        Assert.That(host.Tracker.Statistics.Queued, Is.EqualTo(count), "hits queued once the request completed");
        var hits = await StandIn.WaitForHitsAsync(count, Timeout);
        Assert.That(StandIn.Hits, Has.Count.EqualTo(count));
        await Eventually.TrueAsync(() => host.Tracker.Statistics.Sent == count, Timeout, () => host.Tracker.Statistics.ToString());
        var statistics = host.Tracker.Statistics;
        Assert.That((statistics.Queued, statistics.Sent, statistics.Rejected, statistics.Dropped), Is.EqualTo(((long)count, (long)count, 0L, 0L)), "calls = sent + rejected + dropped");
        return hits;
    }

    [Test]
    public async Task UnaryCall_RequestLargerThanMaxReceiveMessageSize_ResourceExhaustedTrackedOnceAsTheMethod()
    {
        await using var host = await StartAsync();

        var status = await CallAsync(host, MethodType.Unary, "SayHello", Oversized());

        Assert.That(status, Is.EqualTo(StatusCode.ResourceExhausted));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHello"), "the action the interceptor would use");
        Assert.That(hit["url"], Is.EqualTo("https://" + host.Channel.Target + "/greet.Greeter/SayHello"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: ResourceExhausted (8)", "kind: unary" }));
        Assert.That(hit.ServerTimeMs, Is.Not.Null);
        Assert.That(AdapterTrackedAGrpcCall(), Is.True, "the HTTP adapter's hit");
    }

    [Test]
    public async Task ServerStreamingCall_RequestLargerThanMaxReceiveMessageSize_TrackedOnceWithItsKind()
    {
        await using var host = await StartAsync();

        var status = await CallAsync(host, MethodType.ServerStreaming, "SayHelloStream", Oversized());

        Assert.That(status, Is.EqualTo(StatusCode.ResourceExhausted));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHelloStream"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHelloStream"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: ResourceExhausted (8)", "kind: server_streaming", "messages: in=0 out=0" }));
    }

    [Test]
    public async Task UnaryCall_RequestProtobufCannotDecode_TrackedOnceWithTheStatusTheClientGot()
    {
        await using var host = await StartAsync();

        var status = await CallAsync(host, MethodType.Unary, "SayHello", Truncated());

        Assert.That(status, Is.EqualTo(StatusCode.Unknown), "grpc-dotnet answers a deserializer's exception as a handler's");
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: Unknown (2)", "kind: unary" }));
    }

    [TestCase("application/grpc", "compressed", "grpc-encoding:snappy", HttpStatusCode.OK, "12", "Unimplemented (12)", TestName = "Post_CompressedWithUnsupportedGrpcEncoding_TrackedOnceWithTheStatusTheClientGot")]
    [TestCase("application/grpc", "compressed", null, HttpStatusCode.OK, "13", "Internal (13)", TestName = "Post_CompressedWithoutGrpcEncoding_TrackedOnceWithTheStatusTheClientGot")]
    [TestCase("text/plain", "message", null, HttpStatusCode.UnsupportedMediaType, "13", "Internal (13)", TestName = "Post_NotAGrpcContentType_TrackedOnceWithTheStatusTheClientGot")]
    [TestCase("application/grpc", "empty", null, HttpStatusCode.OK, "13", "Internal (13)", TestName = "Post_NoRequestMessage_TrackedOnceWithTheStatusTheClientGot")]
    [TestCase("application/grpc", "two", null, HttpStatusCode.OK, "13", "Internal (13)", TestName = "Post_TwoRequestMessagesToAUnaryMethod_TrackedOnceWithTheStatusTheClientGot")]
    [TestCase("application/grpc", "cut", null, HttpStatusCode.OK, "13", "Internal (13)", TestName = "Post_FrameLongerThanTheBody_TrackedOnceWithTheStatusTheClientGot")]
    public async Task Post_MalformedGrpcRequest_TrackedOnceWithTheStatusTheClientGot(string contentType, string body, string? header, HttpStatusCode http, string grpc, string outcome)
    {
        await using var host = await StartAsync();

        var answer = await PostAsync(host.GrpcAddress, HttpVersion.Version20, contentType, Body(body), header is null ? [] : [header]);

        Assert.That(answer, Is.EqualTo((http, (string?)grpc)));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: " + outcome, "kind: unary" }));
    }

    [TestCase("grpc-timeout:1n", TestName = "Post_DeadlinePassedOnArrival_SeenByTheInterceptor")]
    [TestCase("grpc-timeout:soon", TestName = "Post_UnreadableGrpcTimeout_SeenByTheInterceptor")]
    public async Task Post_OddButReadableRequest_SeenByTheInterceptor(string header)
    {
        await using var host = await StartAsync();

        await PostAsync(host.GrpcAddress, HttpVersion.Version20, "application/grpc", Body("message"), header);

        await HitsAsync(host, 1, "/greet.Greeter/SayHello");
        Assert.That(AdapterTrackedAGrpcCall(), Is.False, "the interceptor's hit");
    }

    [Test]
    public async Task Post_ClientAbortsWhileItsRequestIsRead_TrackedOnceAsCancelled()
    {
        await using var host = await StartAsync();
        var content = new HalfSentContent(Frame(new byte[40], length: 50)[..20]);
        using var client = new HttpClient { Timeout = Timeout };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(host.GrpcAddress, "/greet.Greeter/SayHello"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        using var abort = new CancellationTokenSource();

        var send = client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, abort.Token);
        await content.Sent.Task.WaitAsync(Timeout);
        await abort.CancelAsync();

        Assert.That(async () => await send, Throws.InstanceOf<OperationCanceledException>());
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: Cancelled (1)", "kind: unary" }));
        Assert.That(AdapterTrackedAGrpcCall(), Is.True);
    }

    /// <summary>A request body that sends its first bytes and then waits until the request is cancelled.</summary>
    private sealed class HalfSentContent(byte[] first) : HttpContent
    {
        public TaskCompletionSource Sent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(first, cancellationToken);
            await stream.FlushAsync(cancellationToken);
            Sent.TrySetResult();
            await Task.Delay(System.Threading.Timeout.Infinite, cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Test]
    public async Task Post_Http11WithoutGrpcWeb_TrackedOnceWithTheStatusTheClientGot()
    {
        await using var host = await StartAsync();

        var answer = await PostAsync(host.Web, HttpVersion.Version11, "application/grpc", Body("message"));

        Assert.That(answer, Is.EqualTo((HttpStatusCode.UpgradeRequired, (string?)"13")));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: Internal (13)", "kind: unary" }));
    }

    [Test]
    public async Task Post_Http11KeepAliveAfterARequestTheInterceptorMarked_StillTrackedOnce()
    {
        // Kestrel reuses a connection's feature collection from request to request: the interceptor's mark on one
        // request must be gone by the next.
        var connections = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var host = await StartAsync(o =>
        {
            o.BeforeTracking = app => app.Use((context, next) =>
            {
                connections.Enqueue(context.Connection.Id);
                return next(context);
            });
            o.Endpoints = app => app.MapPost("/marked", (HttpContext c) =>
            {
                c.Features[typeof(MatomoTracker)] = c.RequestServices.GetRequiredService<MatomoTracker>();
                return "ok";
            });
        });
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1 };
        using var client = new HttpClient(handler) { BaseAddress = host.Web, Timeout = Timeout };

        using var marked = await client.PostAsync(new Uri("/marked", UriKind.Relative), null);
        await host.Completed.WaitForAsync("/marked", Timeout);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/greet.Greeter/SayHello", UriKind.Relative)) { Content = new ByteArrayContent(Body("message")) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        using var grpc = await client.SendAsync(request);

        Assert.That(connections.Distinct().Count(), Is.EqualTo(1), "both requests on one keep-alive connection");
        Assert.That(grpc.StatusCode, Is.EqualTo(HttpStatusCode.UpgradeRequired));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHello"), "the marked request is left to the interceptor; the next one is not");
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: Internal (13)", "kind: unary" }));
    }

    [Test]
    public async Task Post_NotAGrpcContentTypeWithStatusCodePagesReExecute_TrackedOnceAsTheMethod()
    {
        // grpc-dotnet answers 415 without a body: an app's status code pages outside the tracking re-execute the pipeline.
        await using var host = await StartAsync(o =>
        {
            o.BeforeTracking = app => app.UseStatusCodePagesWithReExecute("/status/{0}");
            o.Endpoints = app => app.MapPost("/status/{code}", (int code) => "status " + code);
        });

        var answer = await PostAsync(host.GrpcAddress, HttpVersion.Version20, "text/plain", Body("message"));

        Assert.That(answer.Http, Is.EqualTo(HttpStatusCode.UnsupportedMediaType));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(hit["action_name"], Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: Internal (13)", "kind: unary" }));
    }

    [Test]
    public async Task UnaryCall_InterceptorRegisteredForTheServiceOnly_FailureTrackedOnce()
    {
        await using var host = await StartAsync(o => o.GrpcInterceptor = "service");

        var status = await CallAsync(host, MethodType.Unary, "SayHello", Oversized());

        Assert.That(status, Is.EqualTo(StatusCode.ResourceExhausted));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: ResourceExhausted (8)", "kind: unary" }));
    }

    [Test]
    public async Task UnaryCall_NoInterceptorForTheService_LeftUntrackedAsTheAppChose()
    {
        await using var host = await StartAsync(o => o.GrpcInterceptor = "none");

        var status = await CallAsync(host, MethodType.Unary, "SayHello", Oversized());
        await host.Completed.WaitForAsync("/greet.Greeter/SayHello", Timeout);
        var reply = await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(Timeout);
        await Eventually.TrueAsync(() => host.Completed.Paths.Count == 2, Timeout, () => string.Join(", ", host.Completed.Paths));

        Assert.That(status, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(reply.Message, Is.EqualTo("Hello Ada"));
        Assert.That(host.Tracker.Statistics.Queued, Is.Zero, "not tracked by the HTTP adapter either");
    }

    [Test]
    public async Task UnaryCall_HttpKindIgnored_FailureStillTrackedPlainRequestNot()
    {
        await using var host = await StartAsync(o => o.Configuration["IgnoredCallKinds:0"] = "Http");

        var plain = await host.Client.GetAsync(new Uri("/users/1", UriKind.Relative));
        await host.Completed.WaitForAsync("/users/1", Timeout);
        var status = await CallAsync(host, MethodType.Unary, "SayHello", Oversized());

        Assert.That(plain.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(status, Is.EqualTo(StatusCode.ResourceExhausted));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: ResourceExhausted (8)", "kind: unary" }), "only the gRPC call the interceptor missed");
    }

    [Test]
    public async Task UnaryCall_Normal_TrackedOnceByTheInterceptorOnly()
    {
        await using var host = await StartAsync();

        var reply = await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(Timeout);

        Assert.That(reply.Message, Is.EqualTo("Hello Ada"));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: OK (0)", "kind: unary" }));
        Assert.That(AdapterTrackedAGrpcCall(), Is.False, "the interceptor's hit");
    }

    [Test]
    public async Task UnaryCall_OptedOut_NotTrackedAndCountedOnce()
    {
        await using var host = await StartAsync();

        var reply = await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }, new Metadata { { "sec-gpc", "1" } }).ResponseAsync.WaitAsync(Timeout);
        await host.Completed.WaitForAsync("/greet.Greeter/SayHello", Timeout);

        Assert.That(reply.Message, Is.EqualTo("Hello Ada"));
        var statistics = host.Tracker.Statistics;
        Assert.That((statistics.Queued, statistics.OptedOut), Is.EqualTo((0L, 1L)), "the interceptor's decision, not made again by the HTTP adapter");
    }

    [Test]
    public async Task UnaryCall_SampledOutWithoutKeepErrors_NotTrackedAndCountedOnce()
    {
        await using var host = await StartAsync(o =>
        {
            o.Configuration["Sampling:Rate"] = "0";
            o.Configuration["Sampling:KeepErrors"] = "false";
        });

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(Timeout);
        var status = await CallAsync(host, MethodType.Unary, "SayHello", Oversized());
        await host.Completed.WaitForAsync("/greet.Greeter/SayHello", Timeout);
        await Eventually.TrueAsync(() => host.Completed.Paths.Count == 2, Timeout, () => string.Join(", ", host.Completed.Paths));

        Assert.That(status, Is.EqualTo(StatusCode.ResourceExhausted));
        var statistics = host.Tracker.Statistics;
        Assert.That((statistics.Queued, statistics.SampledOut), Is.EqualTo((0L, 2L)), "each call sampled out once: by the interceptor, by the adapter for the failed one");
    }

    [Test]
    public async Task UnaryCall_SampledOutUnderAnotherCallContext_NotTrackedAndCountedOnce()
    {
        // JSON transcoding, or an app's interceptor, hands MatomoInterceptor a call context that is not grpc-dotnet's own.
        await using var host = await StartAsync(o =>
        {
            o.Configuration["Sampling:Rate"] = "0";
            o.Configuration["Sampling:KeepErrors"] = "false";
            o.GrpcInterceptor = "none";
            o.Grpc = g =>
            {
                g.MaxReceiveMessageSize = MaxReceive;
                g.Interceptors.Add<OwnCallContextInterceptor>();
                g.Interceptors.Add<MatomoInterceptor>();
            };
        });

        var reply = await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(Timeout);
        await host.Completed.WaitForAsync("/greet.Greeter/SayHello", Timeout);

        Assert.That(reply.Message, Is.EqualTo("Hello Ada"));
        var statistics = host.Tracker.Statistics;
        Assert.That((statistics.Queued, statistics.SampledOut), Is.EqualTo((0L, 1L)), "the interceptor's decision, not made again by the HTTP adapter");
        Assert.That(AdapterTrackedAGrpcCall(), Is.False);
    }

    [Test]
    public async Task UnaryCall_TrackedUnderAnotherCallContext_TrackedOnceByTheInterceptor()
    {
        await using var host = await StartAsync(o =>
        {
            o.GrpcInterceptor = "none";
            o.Grpc = g =>
            {
                g.Interceptors.Add<OwnCallContextInterceptor>();
                g.Interceptors.Add<MatomoInterceptor>();
            };
        });

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(Timeout);

        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: OK (0)", "kind: unary" }));
        Assert.That(AdapterTrackedAGrpcCall(), Is.False);
    }

    [Test]
    public async Task UnaryCall_InterceptorRegisteredTwiceSampledOut_CountedOnce()
    {
        // Registered globally and again (per service, or twice by mistake): the second leaves the call to the first.
        await using var host = await StartAsync(o =>
        {
            o.Configuration["Sampling:Rate"] = "0";
            o.Configuration["Sampling:KeepErrors"] = "false";
            o.Grpc = g => g.Interceptors.Add<MatomoInterceptor>();
        });

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(Timeout);
        await host.Completed.WaitForAsync("/greet.Greeter/SayHello", Timeout);

        var statistics = host.Tracker.Statistics;
        Assert.That((statistics.Queued, statistics.SampledOut), Is.EqualTo((0L, 1L)), "one call, one sampling decision");
    }

    [Test]
    public async Task UnaryCall_InterceptorRegisteredTwiceOptedOut_CountedOnce()
    {
        await using var host = await StartAsync(o => o.Grpc = g => g.Interceptors.Add<MatomoInterceptor>());

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }, new Metadata { { "dnt", "1" } }).ResponseAsync.WaitAsync(Timeout);
        await host.Completed.WaitForAsync("/greet.Greeter/SayHello", Timeout);

        var statistics = host.Tracker.Statistics;
        Assert.That((statistics.Queued, statistics.OptedOut), Is.EqualTo((0L, 1L)), "one call, one opt-out");
    }

    [Test]
    public async Task UnaryCall_InterceptorRegisteredTwice_TrackedOnce()
    {
        await using var host = await StartAsync(o => o.Grpc = g => g.Interceptors.Add<MatomoInterceptor>());

        await host.Greeter.SayHelloAsync(new HelloRequest { Name = "Ada" }).ResponseAsync.WaitAsync(Timeout);

        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: OK (0)", "kind: unary" }));
    }

    [Test]
    public async Task UnaryCall_FailedByAnAppInterceptorBeforeOurs_TrackedOnceWithItsStatus()
    {
        await using var host = await StartAsync(o =>
        {
            o.GrpcInterceptor = "none";
            o.Grpc = g =>
            {
                g.Interceptors.Add<DenyingInterceptor>();
                g.Interceptors.Add<MatomoInterceptor>();
            };
        });

        var status = await CallAsync(host, MethodType.Unary, "SayHello", new HelloRequest { Name = "Ada" }.ToByteArray());

        Assert.That(status, Is.EqualTo(StatusCode.PermissionDenied));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(Variables(hit), Is.EqualTo(new[] { "status: PermissionDenied (7)", "kind: unary" }));
        Assert.That(AdapterTrackedAGrpcCall(), Is.True);
    }

    [Test]
    public async Task Post_EndpointNotRecognisedAsGrpcButSeenByTheInterceptor_TrackedOnceAndLoggedOnce()
    {
        // What a grpc-dotnet that renamed GrpcMethodMetadata would look like: an endpoint the adapter takes for a plain
        // HTTP one, on which MatomoInterceptor keeps its tracked call's scope.
        await using var host = await StartAsync(o => o.Endpoints = app => app.MapPost("/renamed/SayHello", (HttpContext c) =>
        {
            var scope = c.RequestServices.GetRequiredService<MatomoTracker>().StartCall(c, "greet.Greeter/SayHello", MatomoCallKind.Unary, urlPath: null)!;
            c.Features[typeof(MatomoCallScope)] = scope;
            scope.Complete(new MatomoOutcome("OK", 0, IsError: false), exception: null);
            return "ok";
        }));

        using var first = await host.Client.PostAsync(new Uri("/renamed/SayHello", UriKind.Relative), null).WaitAsync(Timeout);
        await host.Completed.WaitForAsync("/renamed/SayHello", Timeout);
        using var second = await host.Client.PostAsync(new Uri("/renamed/SayHello", UriKind.Relative), null).WaitAsync(Timeout);
        await Eventually.TrueAsync(() => host.Completed.Paths.Count(p => p == "/renamed/SayHello") == 2, Timeout, () => string.Join(", ", host.Completed.Paths));

        Assert.That(host.Tracker.Statistics.Queued, Is.EqualTo(2), "the interceptor's hit of each call, and no other");
        var hits = await StandIn.WaitForHitsAsync(2, Timeout);
        Assert.That(hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "greet.Greeter/SayHello", "greet.Greeter/SayHello" }));
        Assert.That(Logs.Entries.Count(e => e.EventId.Name == "GrpcCallOnUnrecognisedEndpoint"), Is.EqualTo(1));
    }

    [Test]
    public async Task UnaryCall_FailedBeforeInterceptorSampledOutWithKeepErrors_KeptAsAnError()
    {
        await using var host = await StartAsync(o => o.Configuration["Sampling:Rate"] = "0");

        var status = await CallAsync(host, MethodType.Unary, "SayHello", Oversized());

        Assert.That(status, Is.EqualTo(StatusCode.ResourceExhausted));
        var hit = (await HitsAsync(host, 1, "/greet.Greeter/SayHello"))[0];
        Assert.That(hit.CustomVariable("status"), Is.EqualTo("ResourceExhausted (8)"));
        Assert.That(host.Tracker.Statistics.SampledOut, Is.Zero);
    }

    [Test]
    public async Task UnaryCall_FailedBeforeInterceptorExcludedAction_NotTracked()
    {
        await using var host = await StartAsync(o => o.Configuration["ExcludedActions:0"] = "greet.Greeter/SayHello");

        var status = await CallAsync(host, MethodType.Unary, "SayHello", Oversized());
        await host.Completed.WaitForAsync("/greet.Greeter/SayHello", Timeout);

        Assert.That(status, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(host.Tracker.Statistics.Queued, Is.Zero);
    }

    [Test]
    public async Task UnaryCall_FailedBeforeInterceptorOptedOut_NotTrackedAndCountedOnce()
    {
        await using var host = await StartAsync();

        var invoker = host.Channel.CreateCallInvoker();
        var descriptor = new Method<byte[], byte[]>(MethodType.Unary, "greet.Greeter", "SayHello", Bytes, Bytes);
        using var call = invoker.AsyncUnaryCall(descriptor, null, new CallOptions(new Metadata { { "dnt", "1" } }), Oversized());
        var error = Assert.ThrowsAsync<RpcException>(async () => await call.ResponseAsync.WaitAsync(Timeout));
        await host.Completed.WaitForAsync("/greet.Greeter/SayHello", Timeout);

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        var statistics = host.Tracker.Statistics;
        Assert.That((statistics.Queued, statistics.OptedOut), Is.EqualTo((0L, 1L)));
    }
}
