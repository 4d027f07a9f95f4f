using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using Matomo.Rpc.Internal;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// The sender's HTTP path for one batch of 100 or 1,000 encoded hits (about 400 bytes each, as the encoder writes them): the bulk
/// body written from the batch's buffer, the POST through the library's named HttpClient (as registered by
/// <c>AddMatomoTracking</c>: no logging handlers, the timeout applied by the writer), and Matomo's answer read and
/// parsed, against a loopback Kestrel endpoint that counts the requests and answers Matomo's bulk JSON. The figures
/// include the endpoint's own work in this process (it is the same in every run; see the load test's mode 7 for the
/// tracker's cost without it).
/// </summary>
[MemoryDiagnoser]
public class HttpBulkWriterBenchmarks
{
    /// <summary>Hits per batch: <c>BatchSize</c>'s default, and <c>MaxBatchSize</c>'s (what batches grow to against a fast Matomo).</summary>
    [Params(100, 1000)]
    public int Hits { get; set; }

    private WebApplication _endpoint = null!;
    private ServiceProvider _services = null!;
    private HttpBulkWriter _writer = null!;
    private HitBuffer _buffer = null!;
    private List<PendingHit> _batch = null!;

    [GlobalSetup]
    public void Setup()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, 0);
        });
        _endpoint = builder.Build();
        _endpoint.Run(AnswerAsync);
        _endpoint.StartAsync().GetAwaiter().GetResult();
        var address = _endpoint.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var services = new ServiceCollection();
        services.AddHttpClient(MatomoTracker.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan).RemoveAllLoggers();
        _services = services.BuildServiceProvider();
        var options = new MatomoOptions { TrackerUrl = address.TrimEnd('/') + "/matomo.php", SiteId = 1 };
        _writer = new HttpBulkWriter(_services.GetRequiredService<IHttpClientFactory>(), new Uri(options.TrackerUrl), options, TimeProvider.System);

        _buffer = new HitBuffer();
        _batch = new List<PendingHit>(Hits);
        for (var i = 0; i < Hits; i++)
        {
            var query = Encoding.ASCII.GetBytes(
                $"?idsite=1&rec=1&apiv=1&action_name=greet.Greeter%2FSayHello&url=grpc%3A%2F%2Fgreeter.example%2Fgreet.Greeter%2FSayHello"
                + $"&_id={i:x16}&cid={i:x16}&uid=caller-{i}&cdt=2026-11-30%2010%3A30%3A00&gt_ms=1&pf_srv=1&bw_bytes=0"
                + "&cvar=%7B%221%22%3A%5B%22grpc.status%22%2C%22OK%22%5D%2C%222%22%3A%5B%22grpc.kind%22%2C%22unary%22%5D%7D"
                + "&ua=grpc-dotnet%2F2.67.0%20(.NET%2010.0)&lang=en&send_image=0&r=123456");
            var offset = _buffer.Written;
            query.CopyTo(_buffer.GetSpan(query.Length));
            _buffer.Advance(query.Length);
            _batch.Add(new PendingHit(_buffer, offset, query.Length, DateTimeOffset.UtcNow, "greet.Greeter/SayHello", isCrash: false));
        }

        var result = Send().GetAwaiter().GetResult();
        if (result.Status != SendStatus.Answered || result.Tracked != Hits)
        {
            throw new InvalidOperationException($"the endpoint did not count the batch: {result}");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _buffer.Dispose();
        _services.Dispose();
        _endpoint.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Description = "POST a batch of hits to a loopback counting endpoint")]
    public async Task<int> Post() => (await Send()).Tracked;

    private Task<SendResult> Send() => _writer.WriteAsync(_batch, CancellationToken.None);

    private static async Task AnswerAsync(HttpContext context)
    {
        var body = context.Request.BodyReader;
        ReadResult read;
        while (!(read = await body.ReadAsync()).IsCompleted)
        {
            body.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }

        var count = 0;
        var reader = new SequenceReader<byte>(read.Buffer);
        while (reader.TryAdvanceTo((byte)'?'))
        {
            count++;
        }

        body.AdvanceTo(read.Buffer.End);
        context.Response.ContentType = "application/json";
        var answer = context.Response.BodyWriter.GetSpan(64);
        var prefix = "{\"status\":\"success\",\"tracked\":"u8;
        prefix.CopyTo(answer);
        var length = prefix.Length;
        Utf8Formatter.TryFormat(count, answer[length..], out var digits);
        length += digits;
        var suffix = ",\"invalid\":0}"u8;
        suffix.CopyTo(answer[length..]);
        length += suffix.Length;
        context.Response.ContentLength = length;
        context.Response.BodyWriter.Advance(length);
        await context.Response.BodyWriter.FlushAsync();
    }
}
