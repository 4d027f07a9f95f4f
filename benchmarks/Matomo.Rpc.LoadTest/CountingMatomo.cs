using System.Buffers;
using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// A bulk endpoint that only counts: it answers Matomo's bulk answer (<c>tracked</c> = the number of requests) without
/// validating or storing. It stands for a Matomo on another machine, so that the tracker's own cost can be told apart
/// from the stand-in's (which validates and keeps every hit, on the same 2 cores).
/// <para>
/// It runs on the same cores as the load, so it is made as cheap as counting can honestly be. It is a plain HTTP/1.1
/// server on a socket (keep-alive, <c>Content-Length</c> bodies; a chunked body is answered 411), not Kestrel: Kestrel
/// reads a body 4 KB at a time and spent about 80 µs per request on this machine (1.2 µs per hit in batches of 100).
/// Here each connection has a thread of its own with blocking receives into a large buffer: one wake-up per request,
/// and most of a 40 KB body taken by one receive. The body is counted where it was received
/// (no copy), by a vectorized search for the quotes that delimit the requests (<see cref="CountFast"/>), which is exact
/// for a body without escapes or whitespace (what the library writes); any other body is counted by a full JSON pass,
/// and the search is checked against that pass on the first bodies. The count is the true number of requests in the
/// body: the load test compares it with what the tracker counted as sent.
/// </para>
/// </summary>
internal sealed class CountingMatomo : IAsyncDisposable
{
    private const int CheckedBodies = 200;
    private const int MaxHeaderBytes = 64 * 1024;
    private const int MaxBodyBytes = 64 * 1024 * 1024;

    private readonly Socket _listener;
    private volatile bool _stopped;
    private readonly HashSet<Socket> _sockets = [];
    private readonly Thread _accepting;
    private long _hits;
    private long _requests;
    private long _slowBodies;
    private long _checked;
    private volatile string? _disagreement;

    private CountingMatomo()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        TrackerUrl = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndPoint!).Port}/matomo.php";
        _accepting = new Thread(Accept) { IsBackground = true, Name = "counting endpoint" };
        _accepting.Start();
    }

    public string TrackerUrl { get; }

    /// <summary>Bodies that needed the full JSON pass (escapes, whitespace, another member order): 0 for the library's.</summary>
    public long SlowBodies => Interlocked.Read(ref _slowBodies);

    /// <summary>Null while the vectorized count agreed with a full JSON pass on every body checked, else what differed.</summary>
    public string? Disagreement => _disagreement;

    public static Task<CountingMatomo> StartAsync() => Task.FromResult(new CountingMatomo());

    public (long Hits, long Requests) TakeCounts() => (Interlocked.Exchange(ref _hits, 0), Interlocked.Exchange(ref _requests, 0));

    public ValueTask DisposeAsync()
    {
        _stopped = true;
        _listener.Dispose();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
        }

        _accepting.Join(TimeSpan.FromSeconds(5));
        return ValueTask.CompletedTask;
    }

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

    /// <summary>The body's length from its request head: Content-Length, 0 without it, -1 for a chunked body.</summary>
    internal static int BodyLength(ReadOnlySpan<byte> head)
    {
        var length = 0;
        while (head.IndexOf("\r\n"u8) is var end and >= 0)
        {
            head = head[(end + 2)..];
            var line = head.IndexOf("\r\n"u8) is var next and >= 0 ? head[..next] : head;
            if (line.Length > 15 && System.Text.Ascii.EqualsIgnoreCase(line[..15], "content-length:"u8))
            {
                if (!Utf8Parser.TryParse(line[15..].Trim((byte)' '), out length, out _) || length < 0)
                {
                    return -1;
                }
            }
            else if (line.Length > 18 && System.Text.Ascii.EqualsIgnoreCase(line[..18], "transfer-encoding:"u8))
            {
                return -1;
            }
        }

        return length;
    }

    private void Accept()
    {
        try
        {
            while (true)
            {
                var socket = _listener.Accept();
                socket.NoDelay = true;
                lock (_sockets)
                {
                    if (_stopped)
                    {
                        socket.Dispose();
                        return;
                    }

                    _sockets.Add(socket);
                }

                new Thread(() => Serve(socket)) { IsBackground = true, Name = "counting endpoint connection" }.Start();
            }
        }
        catch (ObjectDisposedException)
        {
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>
    /// One keep-alive connection, on a thread of its own with blocking receives: one wake-up per request, without a hop
    /// from the socket engine to the thread pool (the connections are few: one per request the tracker has in flight).
    /// </summary>
    private void Serve(Socket socket)
    {
        var buffer = new byte[256 * 1024];
        var answer = new byte[256];
        var filled = 0;
        try
        {
            while (true)
            {
                int headEnd;
                while ((headEnd = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
                {
                    if (filled >= MaxHeaderBytes || !Receive())
                    {
                        return;
                    }
                }

                var bodyStart = headEnd + 4;
                var length = BodyLength(buffer.AsSpan(0, headEnd));
                if (length < 0 || length > MaxBodyBytes)
                {
                    socket.Send("HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8);
                    return;
                }

                var bodyEnd = bodyStart + length;
                if (bodyEnd > buffer.Length)
                {
                    Array.Resize(ref buffer, Math.Max(bodyEnd, buffer.Length * 2));
                }

                while (filled < bodyEnd)
                {
                    if (!Receive())
                    {
                        return;
                    }
                }

                var count = Count(new ReadOnlySequence<byte>(buffer, bodyStart, length));
                Interlocked.Add(ref _hits, count);
                Interlocked.Increment(ref _requests);
                socket.Send(answer.AsSpan(0, Answer(answer, count)));

                // What came after this request (HttpClient does not pipeline, but a client may) moves to the front.
                buffer.AsSpan(bodyEnd, filled - bodyEnd).CopyTo(buffer);
                filled -= bodyEnd;
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            lock (_sockets)
            {
                _sockets.Remove(socket);
            }

            socket.Dispose();
        }

        bool Receive()
        {
            if (filled == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }

            var read = socket.Receive(buffer.AsSpan(filled));
            filled += read;
            return read > 0;
        }
    }

    private int Count(ReadOnlySequence<byte> body)
    {
        if (body.IsEmpty)
        {
            return 0; // the site check's GET of matomo.php: no bulk request
        }

        if (CountFast(body) is { } fast)
        {
            if (Interlocked.Increment(ref _checked) <= CheckedBodies && CountSlow(body) is var slow && slow != fast)
            {
                // The search is checked against a full JSON pass on the first bodies of the run.
                _disagreement ??= $"the counting endpoint's search counted {fast} requests in a body where a JSON pass counts {slow}";
            }

            return fast;
        }

        Interlocked.Increment(ref _slowBodies);
        return CountSlow(body);
    }

    /// <summary>Matomo's bulk answer with its HTTP head, into <paramref name="to"/>; returns its length.</summary>
    private static int Answer(Span<byte> to, int count)
    {
        Span<byte> json = stackalloc byte[64];
        var length = Write(json, "{\"status\":\"success\",\"tracked\":"u8, 0);
        Utf8Formatter.TryFormat(count, json[length..], out var digits);
        length = Write(json, ",\"invalid\":0}"u8, length + digits);

        var at = Write(to, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "u8, 0);
        Utf8Formatter.TryFormat(length, to[at..], out digits);
        at = Write(to, "\r\n\r\n"u8, at + digits);
        return Write(to, json[..length], at);

        static int Write(Span<byte> to, ReadOnlySpan<byte> bytes, int at)
        {
            bytes.CopyTo(to[at..]);
            return at + bytes.Length;
        }
    }
}
