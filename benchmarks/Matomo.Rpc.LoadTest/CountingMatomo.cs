using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// A bulk endpoint that only counts: it answers Matomo's bulk answer (<c>tracked</c> = the number of requests) without
/// validating or storing. It stands for a Matomo on another machine, so that the tracker's own cost can be told apart
/// from the stand-in's (which validates and keeps every hit, on the same 2 cores).
/// <para>
/// It runs on the same cores as the load, so it is made as cheap as counting can honestly be: the body stays in
/// Kestrel's buffers (read from the request's <see cref="PipeReader"/>, never copied), and the requests are counted by a
/// vectorized search for the quotes that delimit them (<see cref="CountFast"/>), which is exact for a body without
/// escapes or whitespace (what the library writes); any other body is counted by a full JSON pass. The answer is
/// written as bytes. The count is the true number of requests in the body: the load test compares it with what the
/// tracker counted as sent.
/// </para>
/// </summary>
internal sealed class CountingMatomo : IAsyncDisposable
{
    private const int CheckedBodies = 200;

    private readonly WebApplication _app;
    private long _hits;
    private long _requests;
    private long _slowBodies;
    private long _checked;
    private volatile string? _disagreement;

    private CountingMatomo(WebApplication app)
    {
        _app = app;
    }

    public string TrackerUrl { get; private set; } = string.Empty;

    /// <summary>Bodies that needed the full JSON pass (escapes, whitespace, another member order): 0 for the library's.</summary>
    public long SlowBodies => Interlocked.Read(ref _slowBodies);

    public static async Task<CountingMatomo> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        // The handler never blocks: it runs on the socket's own thread, without a hop to the thread pool per read.
        builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = true);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 64 * 1024 * 1024;

            // The whole body is held in Kestrel's buffers until it is complete (no copy): the connection must not stop
            // reading at the default 1 MB (a batch of 1,000 large hits may exceed it). Bounded by MaxRequestBodySize.
            k.Limits.MaxRequestBufferSize = null;
            k.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        var matomo = new CountingMatomo(app);
        app.Run(matomo.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        matomo.TrackerUrl = address.TrimEnd('/') + "/matomo.php";
        return matomo;
    }

    public (long Hits, long Requests) TakeCounts() => (Interlocked.Exchange(ref _hits, 0), Interlocked.Exchange(ref _requests, 0));

    /// <summary>Null while the vectorized count agreed with a full JSON pass on every body checked, else what differed.</summary>
    public string? Disagreement => _disagreement;

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    /// <summary>
    /// The number of strings in the body's <c>requests</c> array, by a vectorized search for quotes and backslashes:
    /// exact when the body starts with <c>{"requests":[</c> and its strings hold no backslash (then every quote delimits
    /// a string). Null when the body is not of that shape (then <see cref="CountSlow"/> decides).
    /// </summary>
    internal static int? CountFast(ReadOnlySequence<byte> body)
    {
        var reader = new SequenceReader<byte>(body);
        if (!reader.IsNext("{\"requests\":["u8, advancePast: true))
        {
            return null;
        }

        if (reader.IsNext((byte)']', advancePast: true))
        {
            return 0;
        }

        var count = 0;
        while (true)
        {
            // An opening quote, the string up to the next quote or backslash (vectorized), then ',' or ']'.
            if (!reader.IsNext((byte)'"', advancePast: true)
                || !reader.TryAdvanceToAny("\"\\"u8, advancePastDelimiter: false)
                || !reader.TryRead(out var end) || end != (byte)'"'
                || !reader.TryRead(out var next))
            {
                return null;
            }

            count++;
            switch (next)
            {
                case (byte)',':
                    continue;
                case (byte)']':
                    return count;
                default:
                    return null;
            }
        }
    }

    /// <summary>The number of strings in the body's <c>requests</c> array, by a full JSON pass (any valid body).</summary>
    internal static int CountSlow(ReadOnlySequence<byte> body)
    {
        var reader = new Utf8JsonReader(body);
        var count = 0;
        var inRequests = false;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName when reader.CurrentDepth == 1:
                    inRequests = reader.ValueTextEquals("requests"u8);
                    break;
                case JsonTokenType.String when inRequests && reader.CurrentDepth == 2:
                    count++;
                    break;
                case JsonTokenType.EndArray when reader.CurrentDepth == 1:
                    inRequests = false;
                    break;
            }
        }

        return count;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var body = context.Request.BodyReader;
        ReadResult read;
        while (true)
        {
            read = await body.ReadAsync(context.RequestAborted);
            if (read.IsCompleted || read.IsCanceled)
            {
                break;
            }

            // Nothing consumed, everything examined: the next read returns the same bytes and more, without a copy.
            body.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }

        int count;
        try
        {
            if (read.Buffer.IsEmpty)
            {
                count = 0; // the site check's GET of matomo.php: no bulk request
            }
            else if (CountFast(read.Buffer) is { } fast)
            {
                count = fast;
                if (Interlocked.Increment(ref _checked) <= CheckedBodies && CountSlow(read.Buffer) is var slow && slow != fast)
                {
                    // The search is checked against a full JSON pass on the first bodies of the run.
                    _disagreement ??= $"the counting endpoint's search counted {fast} requests in a body where a JSON pass counts {slow}";
                }
            }
            else
            {
                Interlocked.Increment(ref _slowBodies);
                count = CountSlow(read.Buffer);
            }
        }
        finally
        {
            body.AdvanceTo(read.Buffer.End);
        }

        Interlocked.Add(ref _hits, count);
        Interlocked.Increment(ref _requests);
        var response = context.Response;
        response.ContentType = "application/json";
        var answer = response.BodyWriter.GetSpan(64);
        var length = Write(answer, "{\"status\":\"success\",\"tracked\":"u8, 0);
        Utf8Formatter.TryFormat(count, answer[length..], out var digits);
        length = Write(answer, ",\"invalid\":0}"u8, length + digits);
        response.ContentLength = length;
        response.BodyWriter.Advance(length);
        await response.BodyWriter.FlushAsync(context.RequestAborted);

        static int Write(Span<byte> to, ReadOnlySpan<byte> bytes, int at)
        {
            bytes.CopyTo(to[at..]);
            return at + bytes.Length;
        }
    }
}
