using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Matomo.Rpc.Capacity;

/// <summary>What the saturating bulk client achieved at one concurrency.</summary>
internal sealed record BulkLevel(int Concurrency, double Seconds, long Requests, long HitsSent, long Tracked, long Invalid, long Accepted, long Failed, long? Stored)
{
    /// <summary><c>random</c>: a new visitor per hit; <c>rpc</c>: Matomo.Rpc's hits (its visitors, its parameters).</summary>
    public string Shape { get; init; } = "random";

    /// <summary>What the machine did during the level.</summary>
    public SlotFigures? Figures { get; init; }

    /// <summary>Mean answer time of a bulk request, in seconds.</summary>
    public double? MeanAnswerSeconds { get; init; }

    /// <summary>Hits/s Matomo took: stored rows (direct) or hits accepted into the queue (QueuedTracking).</summary>
    public double HitsPerSecond => (Stored ?? Accepted) / Seconds;
}

/// <summary>
/// The reference client: bulk requests of 100 hits, each hit a new visitor (a random <c>cid</c>), sent back to back
/// by 1, 2 and 4 concurrent senders: what this Matomo can take at most. With a shape (<see cref="RpcShape"/>), each request
/// carries 100 hits of one of Matomo.Rpc's visitors, with Matomo.Rpc's parameters, the visitors taken in turn (as the
/// sender's visitor lanes make its batches: one visitor is never in two requests at once).
/// </summary>
internal sealed class BulkClient : IDisposable
{
    public const int BatchSize = 100;

    private readonly HttpClient _http = new(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromMinutes(2) };
    private readonly Kit _kit;
    private readonly int _site;

    public BulkClient(Kit kit, int site)
    {
        _kit = kit;
        _site = site;
    }

    public async Task<BulkLevel> RunAsync(int concurrency, TimeSpan duration, long maxHits, IReadOnlyList<string>? shape = null)
    {
        var storedBefore = _kit.Queued ? 0 : await _kit.CountStoredAsync(_site);
        long reserved = 0;
        long requests = 0, sent = 0, tracked = 0, invalid = 0, accepted = 0, failed = 0, answerTicks = 0;
        var nextVisitor = -1;
        var probe = new SlotProbe();
        var clock = Stopwatch.StartNew();

        async Task WorkerAsync()
        {
            while (clock.Elapsed < duration && Interlocked.Add(ref reserved, BatchSize) <= maxHits)
            {
                using var content = new StringContent(
                    shape is null ? Body() : ShapedBody(shape[(int)((uint)Interlocked.Increment(ref nextVisitor) % shape.Count)]),
                    Encoding.UTF8,
                    "application/json");
                var sentAt = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref requests);
                Interlocked.Add(ref sent, BatchSize);
                try
                {
                    using var response = await _http.PostAsync(new Uri(_kit.TrackerUrl), content);
                    var text = await response.Content.ReadAsStringAsync();
                    Interlocked.Add(ref answerTicks, Stopwatch.GetTimestamp() - sentAt);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Add(ref failed, BatchSize);
                    }
                    else if (_kit.Queued)
                    {
                        // QueuedTracking answers a bulk request with the single-hit answer: the hits are in the queue.
                        Interlocked.Add(ref accepted, BatchSize);
                    }
                    else
                    {
                        using var json = JsonDocument.Parse(text);
                        var t = json.RootElement.GetProperty("tracked").GetInt64();
                        Interlocked.Add(ref tracked, t);
                        Interlocked.Add(ref accepted, t);
                        Interlocked.Add(ref invalid, json.RootElement.GetProperty("invalid").GetInt64());
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
                {
                    Interlocked.Add(ref failed, BatchSize);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(WorkerAsync)));
        var seconds = clock.Elapsed.TotalSeconds;
        var figures = await probe.StopAsync();
        probe.Dispose();
        long? stored = _kit.Queued ? null : await _kit.CountStoredAsync(_site) - storedBefore;
        return new BulkLevel(concurrency, seconds, requests, sent, tracked, invalid, accepted, failed, stored)
        {
            Shape = shape is null ? "random" : "rpc",
            Figures = figures,
            MeanAnswerSeconds = requests > 0 ? (double)answerTicks / Stopwatch.Frequency / requests : null,
        };
    }

    public void Dispose() => _http.Dispose();

    /// <summary>100 hits of one visitor, Matomo.Rpc's query with this site and the time now (it sends no <c>rand</c>).</summary>
    private string ShapedBody(string query)
    {
        var body = new StringBuilder(BatchSize * (query.Length + 64));
        body.Append("{\"requests\":[");
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        for (var i = 0; i < BatchSize; i++)
        {
            body.Append(i == 0 ? "\"" : ",\"")
                .Append(CultureInfo.InvariantCulture, $"?idsite={_site}&{query}&cdt={now}\"");
        }

        return body.Append("]}").ToString();
    }

    private string Body()
    {
        var body = new StringBuilder(BatchSize * 160);
        body.Append("{\"requests\":[");
        Span<byte> id = stackalloc byte[8];
        for (var i = 0; i < BatchSize; i++)
        {
            Random.Shared.NextBytes(id);
            body.Append(i == 0 ? "\"" : ",\"")
                .Append(CultureInfo.InvariantCulture, $"?idsite={_site}&rec=1&apiv=1&cid={Convert.ToHexStringLower(id)}")
                .Append("&url=https%3A%2F%2Fcapacity.example%2Fgreet.Greeter%2FSayHello&action_name=greet.Greeter%2FSayHello")
                .Append(CultureInfo.InvariantCulture, $"&rand={Random.Shared.Next()}\"");
        }

        return body.Append("]}").ToString();
    }
}
