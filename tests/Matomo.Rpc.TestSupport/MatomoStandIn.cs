using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.TestSupport;

/// <summary>
/// A Matomo stand-in: a real Kestrel server on 127.0.0.1 (dynamic port) that answers the Tracking API (single hits and
/// bulk) and the few Reporting API methods a client checks, the way a real Matomo 5 does (see shared/MATOMO.md):
/// 2xx that stores nothing, 400s that never say why, whole-batch 500 rollbacks. Thread-safe; fault injection can be
/// changed at any time.
/// </summary>
public sealed partial class MatomoStandIn : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly List<StoredHit> _hits = [];
    private readonly List<ReceivedRequest> _requests = [];
    private readonly List<(Func<IReadOnlyList<StoredHit>, bool> Until, TaskCompletionSource Signal)> _waiters = [];
    private readonly List<QueuedRequest> _queue = [];
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private WebApplication? _app;
    private long _latencyTicks;
    private int _failWith;
    private int _failedLogins;
    private Func<IReadOnlyDictionary<string, string>, bool>? _poisonWhen;
    private bool _disposed;

    private MatomoStandIn()
    {
    }

    /// <summary>The port the stand-in listens on (kept across <see cref="RestartAsync"/>).</summary>
    public int Port { get; private set; }

    /// <summary>The tracker URL, <c>http://127.0.0.1:PORT/matomo.php</c>.</summary>
    public string TrackerUrl => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}/matomo.php");

    /// <summary>The Reporting API URL, <c>http://127.0.0.1:PORT/index.php</c>.</summary>
    public string ApiUrl => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}/index.php");

    /// <summary>The one site that exists (1). Any other id answers 400.</summary>
    public int SiteId { get; set; } = 1;

    /// <summary>The valid token. Use it as <c>MatomoOptions.TokenAuth</c> in tests that need <c>cip</c>.</summary>
    public string Token { get; set; } = "0123456789abcdef0123456789abcdef";

    /// <summary>What the valid token may do; tracking with <c>cip</c> or old <c>cdt</c> needs write, admin or super user.</summary>
    public MatomoTokenAccess TokenAccess { get; set; } = MatomoTokenAccess.Write;

    /// <summary>How many other sites the token has the same access to, listed before this one (a Matomo with many sites).</summary>
    public int OtherSites { get; set; }

    /// <summary>What <c>API.getMatomoVersion</c> answers.</summary>
    public string Version { get; set; } = "5.0.2";

    /// <summary>Whether the CustomVariables plugin is active (Matomo 4+ does not install it; without it nothing of <c>cvar</c> is stored). On by default here so that tests can see stored custom variables.</summary>
    public bool CustomVariablesPluginActive { get; set; } = true;

    /// <summary>Custom variable slots per scope (Matomo's default 5).</summary>
    public int CustomVariableSlots { get; set; } = 5;

    /// <summary>Custom dimensions configured on the site (none by default, as on a fresh Matomo). Not thread-safe: set up before use.</summary>
    public List<ConfiguredDimension> Dimensions { get; } = [];

    /// <summary>The clock used to judge <c>cdt</c> (older than 24 h needs a token).</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>Delays every answer by this much. Hits are stored before the delay, as Matomo stores while it works: a client that gives up waiting has still had its hits recorded.</summary>
    public TimeSpan Latency
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicks));
        set => Interlocked.Exchange(ref _latencyTicks, value.Ticks);
    }

    /// <summary>When set, every tracking request is answered with this status (429 adds <c>Retry-After: 1</c>); null is normal.</summary>
    public int? FailWith
    {
        get => Volatile.Read(ref _failWith) is var s && s != 0 ? s : null;
        set => Volatile.Write(ref _failWith, value ?? 0);
    }

    /// <summary>
    /// Answers as Matomo with the QueuedTracking plugin's queue on: every tracking request, bulk included, gets the
    /// single-hit answer (200 with the GIF, 204 with <c>send_image=0</c> in the URL's query) and is only queued, checked
    /// for nothing; <see cref="ProcessQueue"/> stores it as the plugin's workers do.
    /// </summary>
    public bool QueuedTracking { get; set; }

    /// <summary>With <see cref="QueuedTracking"/>: the queue's backend (Redis) is down, so requests get 500 with the GIF (204 with <c>send_image=0</c>) and nothing is queued.</summary>
    public bool QueueBackendDown { get; set; }

    /// <summary>Requests waiting in the QueuedTracking queue.</summary>
    public int QueuedRequests
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>
    /// Failed logins Matomo's brute-force detection (Login plugin) recorded for the client's IP within the hour: one per
    /// request whose token Matomo had to check and could not accept (a tracking request with a hit carrying <c>cip</c> or
    /// an old <c>cdt</c> for the site, or a Reporting API call with an unknown token), as Matomo 5.0.2 does. Settable to
    /// simulate other hosts' failures behind the same IP.
    /// </summary>
    public int FailedLogins
    {
        get => Volatile.Read(ref _failedLogins);
        set => Volatile.Write(ref _failedLogins, value);
    }

    /// <summary>Matomo's Login setting maxAllowedRetries: more failed logins than this block the IP (20 by default).</summary>
    public int MaxAllowedRetries { get; set; } = 20;

    /// <summary>The client's IP is on the Login setting blacklistedBruteForceIps: blocked whatever the failed logins.</summary>
    public bool IpBlocklisted { get; set; }

    /// <summary>
    /// Whether Matomo blocks the client's IP: then every bulk request carrying a token answers 500
    /// <c>{"status":"error","tracked":0,"invalid":0}</c> and stores nothing, every Reporting API call answers 500 with the
    /// "Too many failed logins" page, and requests without a token are tracked as usual (seen on Matomo 5.0.2).
    /// </summary>
    public bool IpBlocked => IpBlocklisted || FailedLogins > MaxAllowedRetries;

    /// <summary>A hit matching this makes Matomo throw: a single hit answers 500, a bulk request rolls back its whole batch (500).</summary>
    public Func<IReadOnlyDictionary<string, string>, bool>? PoisonWhen
    {
        get => Volatile.Read(ref _poisonWhen);
        set => Volatile.Write(ref _poisonWhen, value);
    }

    /// <summary>Whether the server is currently listening.</summary>
    public bool IsRunning => Volatile.Read(ref _app) is not null;

    /// <summary>The hits Matomo would have stored, in the order stored.</summary>
    public IReadOnlyList<StoredHit> Hits
    {
        get
        {
            lock (_gate)
            {
                return [.. _hits];
            }
        }
    }

    /// <summary>Every HTTP request received, with the status answered, in the order answered.</summary>
    public IReadOnlyList<ReceivedRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Starts a stand-in on 127.0.0.1 with a dynamic port.</summary>
    public static async Task<MatomoStandIn> StartAsync(CancellationToken cancellationToken = default)
    {
        var standIn = new MatomoStandIn();
        await standIn.StartServerAsync(0, cancellationToken).ConfigureAwait(false);
        return standIn;
    }

    /// <summary>Waits until at least <paramref name="count"/> hits are stored; throws <see cref="TimeoutException"/> otherwise.</summary>
    public Task<IReadOnlyList<StoredHit>> WaitForHitsAsync(int count, TimeSpan timeout) =>
        WaitForHitsAsync(hits => hits.Count >= count, timeout, string.Create(CultureInfo.InvariantCulture, $"{count} stored hits"));

    /// <summary>
    /// Waits until the stored hits satisfy <paramref name="until"/> (checked as each request stores its hits); throws
    /// <see cref="TimeoutException"/>, saying what was <paramref name="expected"/>, otherwise.
    /// </summary>
    public async Task<IReadOnlyList<StoredHit>> WaitForHitsAsync(Func<IReadOnlyList<StoredHit>, bool> until, TimeSpan timeout, string expected)
    {
        ArgumentNullException.ThrowIfNull(until);
        TaskCompletionSource signal;
        lock (_gate)
        {
            if (until(_hits))
            {
                return [.. _hits];
            }

            signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((until, signal));
        }

        try
        {
            await signal.Task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            lock (_gate)
            {
                _waiters.RemoveAll(w => w.Signal == signal);
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                    $"Expected {expected} within {timeout}, got {_hits.Count} ({_requests.Count} requests: {string.Join(", ", _requests.Select(r => r.StatusCode))})."));
            }
        }

        return Hits;
    }

    /// <summary>Forgets stored hits and received requests.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _hits.Clear();
            _queue.Clear();
            _requests.Clear();
        }
    }

    /// <summary>Stops listening: connections are refused until <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
    {
        await _lifecycle.WaitAsync().ConfigureAwait(false);
        try
        {
            var app = Interlocked.Exchange(ref _app, null);
            if (app is not null)
            {
                await app.StopAsync().ConfigureAwait(false);
                await app.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Listens again on the same port.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync().ConfigureAwait(false);
        await StartServerAsync(Port, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await StopAsync().ConfigureAwait(false);
        lock (_gate)
        {
            foreach (var (_, signal) in _waiters)
            {
                signal.TrySetCanceled();
            }

            _waiters.Clear();
        }
    }

    private async Task StartServerAsync(int port, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _lifecycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_app is not null)
            {
                return;
            }

            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
            {
                ContentRootPath = AppContext.BaseDirectory,
                EnvironmentName = "Production",
                Args = [],
            });
            builder.Logging.ClearProviders();
            builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.AddServerHeader = false;
                kestrel.Limits.MaxRequestBodySize = 64 * 1024 * 1024;
                kestrel.Listen(IPAddress.Loopback, port);
            });
            var app = builder.Build();
            app.Run(HandleAsync);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            Port = new Uri(address).Port;
            _app = app;
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var receivedAt = Clock.GetUtcNow();
        string body;
        using (var reader = new StreamReader(request.Body, Encoding.UTF8))
        {
            body = await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
        }

        var queryString = request.QueryString.Value ?? string.Empty;
        var query = ParseQuery(queryString);
        var path = request.Path.Value ?? string.Empty;

        Answer answer;
        if (string.Equals(path, "/matomo.php", StringComparison.OrdinalIgnoreCase) || string.Equals(path, "/piwik.php", StringComparison.OrdinalIgnoreCase))
        {
            answer = FailWith is { } status
                ? new Answer(status, "text/html; charset=utf-8", "<html><body>Service unavailable</body></html>", status == 429 ? "1" : null)
                : QueuedTracking && query.GetValueOrDefault("queuedtracking") != "0"
                    ? Queue(request, query, queryString, body, receivedAt)
                    : Track(request, query, queryString, body, receivedAt);
        }
        else if (string.Equals(path, "/index.php", StringComparison.OrdinalIgnoreCase))
        {
            answer = Api(request, query, body);
        }
        else
        {
            answer = new Answer(404, "text/html; charset=utf-8", "<html><body>Not Found</body></html>");
        }

        // Matomo stores while it works; a slow answer (and a client that gives up on it) does not undo that.
        if (answer.Store is { Count: > 0 } stored)
        {
            AddStored(stored);
        }

        var aborted = false;
        var latency = Latency;
        if (latency > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(latency, context.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                aborted = true;
            }
        }

        lock (_gate)
        {
            _requests.Add(new ReceivedRequest(request.Method, path, queryString, body, request.ContentType, answer.Status,
                answer.Gif ? string.Empty : answer.Body, query.ContainsKey("token_auth"), receivedAt));
        }

        if (aborted)
        {
            return;
        }

        var response = context.Response;
        response.StatusCode = answer.Status;
        if (answer.RetryAfter is { } retryAfter)
        {
            response.Headers.RetryAfter = retryAfter;
        }

        if (answer.Status == 204)
        {
            return;
        }

        response.ContentType = answer.ContentType;
        if (answer.Gif)
        {
            await response.Body.WriteAsync(TransparentGif, context.RequestAborted).ConfigureAwait(false);
        }
        else
        {
            await response.WriteAsync(answer.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private void AddStored(List<StoredHit> stored)
    {
        lock (_gate)
        {
            _hits.AddRange(stored);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Until(_hits))
                {
                    _waiters[i].Signal.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>
    /// A bulk request's string as Matomo's BulkTracking reads it: PHP's <c>parse_url</c> (the query ends at the first '#';
    /// control characters become '_'), then <c>parse_str</c> (<see cref="ParseQuery"/>). Null when there is no query
    /// (Matomo drops such a string).
    /// </summary>
    internal static Dictionary<string, string>? ParseBulkRequest(string request)
    {
        if (!request.StartsWith('?'))
        {
            return null;
        }

        var query = request[1..];
        var fragment = query.IndexOf('#', StringComparison.Ordinal);
        if (fragment >= 0)
        {
            query = query[..fragment];
        }

        if (query.Length == 0)
        {
            return null;
        }

        if (query.AsSpan().IndexOfAnyInRange('\0', '\u001f') >= 0 || query.Contains('\u007f', StringComparison.Ordinal))
        {
            query = string.Create(query.Length, query, static (span, q) =>
            {
                for (var i = 0; i < q.Length; i++)
                {
                    span[i] = q[i] < ' ' || q[i] == '\u007f' ? '_' : q[i];
                }
            });
        }

        return ParseQuery(query);
    }

    /// <summary>PHP-like parsing: '+' is a space, the last of duplicate names wins, names are case-sensitive.</summary>
    internal static Dictionary<string, string> ParseQuery(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var span = text.AsSpan();
        if (span.StartsWith("?"))
        {
            span = span[1..];
        }

        foreach (var range in span.Split('&'))
        {
            var pair = span[range];
            if (pair.IsEmpty)
            {
                continue;
            }

            var eq = pair.IndexOf('=');
            var name = Decode(eq < 0 ? pair : pair[..eq]);
            if (name.Length == 0)
            {
                continue;
            }

            result[name] = eq < 0 ? string.Empty : Decode(pair[(eq + 1)..]);
        }

        return result;
    }

    private static string Decode(ReadOnlySpan<char> value) => Uri.UnescapeDataString(value.ToString().Replace('+', ' '));

    private static readonly byte[] TransparentGif = Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAAAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==");

    private sealed record QueuedRequest(string Method, string? ContentType, string UserAgent, Dictionary<string, string> Query, string QueryString, string Body, DateTimeOffset ReceivedAt);

    private sealed record Answer(int Status, string ContentType, string Body, string? RetryAfter = null)
    {
        public bool Gif { get; init; }

        public List<StoredHit>? Store { get; init; }
    }
}
