using System.Buffers;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Sends a batch as one Matomo bulk request (token in the JSON body, never in the URL) and reads the answer's
/// <c>tracked</c>/<c>invalid</c> counts instead of trusting the status code; tells QueuedTracking's answers (the
/// single-hit answer, and 500 with the GIF when its queue backend is down) apart.
/// </summary>
internal sealed class HttpBulkWriter : IHitWriter
{
    private const int MaxAnswerBytes = 64 * 1024;
    private static readonly MediaTypeHeaderValue JsonType = new("application/json") { CharSet = "utf-8" };

    private readonly IHttpClientFactory _clients;
    private readonly Uri _endpoint;
    private readonly HostBlockProbe? _blockProbe;
    private readonly BulkBodyWriter _bodyWriter;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    // Bodies are reused, one per request in flight (Matomo:Sending:MaxConcurrentRequests may allow several).
    private readonly System.Collections.Concurrent.ConcurrentBag<ArrayBufferWriter<byte>> _bodies = [];

    public HttpBulkWriter(IHttpClientFactory clients, Uri endpoint, MatomoOptions options, TimeProvider time)
    {
        _clients = clients;
        _endpoint = endpoint;
        _bodyWriter = new BulkBodyWriter(options.TokenAuth);
        _blockProbe = HostBlockProbe.For(options.SiteId, options.TokenAuth);
        _timeout = options.Sending.HttpTimeout;
        _time = time;
    }

    public string Describe => _endpoint.GetLeftPart(UriPartial.Path);

    public async Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken)
    {
        var body = _bodies.TryTake(out var reused) ? reused : new ArrayBufferWriter<byte>(16 * 1024);
        try
        {
            body.ResetWrittenCount();
            _bodyWriter.Write(body, hits);
            return await PostAsync(body, hits.Count, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _bodies.Add(body);
        }
    }

    /// <summary>Asks matomo.php whether it blocks this host (<see cref="HostBlockProbe"/>); false without a token.</summary>
    public Task<bool> IsHostBlockedAsync(CancellationToken cancellationToken) =>
        _blockProbe?.IsBlockedAsync(ProbeAsync, cancellationToken) ?? Task.FromResult(false);

    private async Task<int> ProbeAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_timeout, _time);
        using var callerCancels = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), timeout);
        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint)
        {
            Content = new ReadOnlyMemoryContent(body) { Headers = { ContentType = JsonType } },
        };

        try
        {
            using var response = await _clients.CreateClient(MatomoTracker.HttpClientName).SendAsync(request, timeout.Token).ConfigureAwait(false);
            return (int)response.StatusCode;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return 0;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
    }

    private async Task<SendResult> PostAsync(ArrayBufferWriter<byte> body, int count, CancellationToken cancellationToken)
    {
        // One token for the request: the timeout's, also cancelled by the caller's (a registration, not a linked source).
        using var timeout = new CancellationTokenSource(_timeout, _time);
        using var callerCancels = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), timeout);
        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint)
        {
            Content = new ReadOnlyMemoryContent(body.WrittenMemory) { Headers = { ContentType = JsonType } },
        };

        var client = _clients.CreateClient(MatomoTracker.HttpClientName);
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var buffer = ArrayPool<byte>.Shared.Rent(MaxAnswerBytes);
            try
            {
                var length = await ReadAnswerAsync(response, buffer, timeout.Token).ConfigureAwait(false);
                return Classify(response, status, buffer.AsMemory(0, length), count);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SendResult(SendStatus.Transient, Reason: $"no answer within {_timeout}");
        }
        catch (HttpRequestException ex)
        {
            // One line, no stack trace: connection refused, name not resolved, ... are what a network does.
            return new SendResult(SendStatus.Transient, Reason: ex.HttpRequestError == HttpRequestError.Unknown
                ? "HTTP request failed: " + ex.Message
                : ex.HttpRequestError + ": " + ex.Message);
        }
    }

    // The answer is read as bytes (at most MaxAnswerBytes): Matomo's bulk answer is parsed from them, and a string is made
    // only for an answer that is not JSON (its "Error:" line).
    private SendResult Classify(HttpResponseMessage response, int status, ReadOnlyMemory<byte> answer, int count)
    {
        switch (status)
        {
            case >= 200 and < 300 when IsSingleHitAnswer(status, answer):
                // QueuedTracking answers every request, bulk included, as a single hit: it queued the request and counts
                // nothing per hit. Direct bulk tracking always answers JSON.
                return new SendResult(SendStatus.Queued, StatusCode: status);
            case >= 200 and < 300:
                return ParseAnswer(answer, count, status);
            case 500 when IsGif(answer.Span):
                // QueuedTracking could not queue the request (its Redis or database backend is down): nothing was
                // stored and nothing is wrong with the hits. Retry; splitting would only multiply the requests.
                return new SendResult(SendStatus.Transient, StatusCode: status, Reason: "HTTP 500 from Matomo's queue (QueuedTracking): its backend (Redis or the database) is down");
            case 500:
                // An exception in Matomo (a hit it cannot process, or its database) rolled the whole batch back; or
                // Matomo's brute-force detection blocks this host (then the body counts nothing: tracked 0, invalid 0).
                _ = TryReadBulkAnswer(answer.Span, out var trackedBefore, out var invalidBefore);
                return new SendResult(SendStatus.RolledBack, trackedBefore, invalidBefore, status, "HTTP 500");
            case 400 when IsGif(answer.Span):
                // QueuedTracking's answer to a request it refuses when it takes it: a hit with cip whose token Matomo does
                // not accept for the hit's site (seen with plugin 5.1.1). Nothing was queued.
                return new SendResult(SendStatus.Refused, StatusCode: status, Reason: "HTTP 400 from Matomo's queue (QueuedTracking): a hit with cip and a token it does not accept", QueueRefused: true);
            case 400:
                // Matomo answers a bad hit inside a bulk request with 200 and counts it as invalid; 400 means the body
                // was not taken as a bulk request at all (a proxy or firewall, a wrong URL). Splitting cannot help.
                return new SendResult(SendStatus.Refused, StatusCode: status, Reason: "HTTP 400: not taken as a bulk request");
            case 408 or 429 or 502 or 503 or 504 or > 500:
                return new SendResult(SendStatus.Transient, StatusCode: status, Reason: "HTTP " + status, RetryAfter: RetryAfter(response, _time.GetUtcNow()));
            default:
                return new SendResult(SendStatus.Refused, StatusCode: status, Reason: "HTTP " + status);
        }
    }

    // The single-hit answer: 200 with Matomo's 43-byte GIF, or 204 with no body (send_image=0, which this library never
    // sends, so it comes only from a tracker URL that carries it).
    private static bool IsSingleHitAnswer(int status, ReadOnlyMemory<byte> answer) => (status == 200 && IsGif(answer.Span)) || (status == 204 && answer.Length == 0);

    private static bool IsGif(ReadOnlySpan<byte> answer) => answer.StartsWith("GIF8"u8);

    private static SendResult ParseAnswer(ReadOnlyMemory<byte> utf8, int count, int status) =>
        TryReadBulkAnswer(utf8.Span, out var tracked, out var invalid)
            ? new SendResult(SendStatus.Answered, tracked, invalid, status)
            : ParseText(System.Text.Encoding.UTF8.GetString(utf8.Span), status);

    /// <summary>
    /// Reads Matomo's bulk answer, <c>{"status":"success","tracked":N,"invalid":M,...}</c>, from its bytes with a reader
    /// (no document, nothing allocated): true when the bytes are one JSON object whose <c>tracked</c> is a whole number
    /// (<paramref name="invalid"/>: its <c>invalid</c>, 0 when absent or not a whole number). As
    /// <see cref="JsonDocument"/> reads it: the whole answer must be valid JSON, and of a member given twice the last counts.
    /// </summary>
    internal static bool TryReadBulkAnswer(ReadOnlySpan<byte> utf8, out int tracked, out int invalid)
    {
        (tracked, invalid) = (0, 0);
        bool? trackedRead = null;
        try
        {
            var reader = new Utf8JsonReader(utf8, isFinalBlock: true, state: default);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                // Not an object: still the whole answer must be JSON for it to be "not a bulk answer" rather than text.
                while (reader.Read())
                {
                }

                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isTracked = reader.ValueTextEquals("tracked"u8);
                var isInvalid = !isTracked && reader.ValueTextEquals("invalid"u8);
                reader.Read();
                if (isTracked)
                {
                    trackedRead = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out tracked);
                }
                else if (isInvalid)
                {
                    invalid = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var i) ? i : 0;
                }

                reader.Skip();
            }

            // Trailing content after the object is not JSON (JsonDocument refuses it): the reader throws on it.
            while (reader.Read())
            {
            }
        }
        catch (JsonException)
        {
            trackedRead = false;
        }

        if (trackedRead != true)
        {
            (tracked, invalid) = (0, 0);
            return false;
        }

        return true;
    }

    /// <summary>
    /// The answer as text, when its bytes were not Matomo's bulk answer. Parsed as JSON once more: the bytes may not
    /// be (invalid UTF-8, a byte-order mark) where their text is, as it was when the answer was parsed as a string.
    /// </summary>
    private static SendResult ParseText(string answer, int status)
    {
        try
        {
            using var json = JsonDocument.Parse(answer);
            var root = json.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("tracked", out var trackedElement) && trackedElement.ValueKind == JsonValueKind.Number && trackedElement.TryGetInt32(out var tracked))
            {
                var invalid = root.TryGetProperty("invalid", out var invalidElement) && invalidElement.ValueKind == JsonValueKind.Number && invalidElement.TryGetInt32(out var i) ? i : 0;
                return new SendResult(SendStatus.Answered, tracked, invalid, status);
            }
        }
        catch (JsonException)
        {
        }

        // Matomo 5 answers HTTP 200 with "Error:<message>" when an exception escapes its tracker before the bulk
        // handler runs (seen with its database stopped: "Error:SQLSTATE[HY000] [2002] Connection refused"). Nothing
        // was stored and nothing is wrong with the hits: retry.
        if (answer.StartsWith("Error:", StringComparison.Ordinal))
        {
            var reason = answer.AsSpan(6).Trim();
            var line = reason.IndexOfAny('\r', '\n');
            reason = line >= 0 ? reason[..line] : reason;
            return new SendResult(SendStatus.Transient, StatusCode: status, Reason: "Matomo failed: " + (reason.Length > 200 ? reason[..200].ToString() : reason.ToString()));
        }

        // Not a bulk answer (a proxy's page, a GIF from a non-bulk endpoint): nothing says the hits were stored.
        return new SendResult(SendStatus.Answered, 0, 0, status, "an answer that is not Matomo's bulk answer; is Matomo:TrackerUrl Matomo's matomo.php?");
    }

    private static async Task<int> ReadAnswerAsync(HttpResponseMessage response, byte[] buffer, CancellationToken cancellationToken)
    {
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var total = 0;
            int read;
            while (total < MaxAnswerBytes && (read = await stream.ReadAsync(buffer.AsMemory(total, MaxAnswerBytes - total), cancellationToken).ConfigureAwait(false)) > 0)
            {
                total += read;
            }

            return total;
        }
    }

    /// <summary>
    /// How long Matomo (or a proxy before it) asks to wait: <c>Retry-After</c> as seconds, or as a date measured against
    /// the answer's own <c>Date</c> when it has one (the server's clock, whatever the skew between the two machines),
    /// else against <paramref name="now"/>. Null when the answer asks nothing.
    /// </summary>
    internal static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - (response.Headers.Date ?? now);
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }
}
