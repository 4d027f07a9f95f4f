using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Writes a Matomo query string as UTF-8 bytes straight into a <see cref="HitBuffer"/>, with no string built on the way.
/// Names and values are encoded as UTF-8 (lone surrogates become U+FFFD) and percent-encoded only where Matomo's bulk
/// parsing needs it: each request string goes through PHP's <c>parse_url</c> (the first '#' ends the query; control
/// characters become '_') and <c>parse_str</c> ('&amp;' splits, '=' splits a name from its value, '+' and %XX decode).
/// So '#', '%', '&amp;', '+', '=', control characters, DEL and every non-ASCII byte are %XX, a space is '+', and the
/// JSON body's '"' and '\' are %XX too; every other printable ASCII character (':', '/', ',', '{', '[', …) is written as
/// it is (verified against PHP 8.2 and a real Matomo 5: see WireRealMatomoTests). The bytes are printable ASCII
/// other than '"' and '\', so they go into the bulk body's JSON as they are.
/// </summary>
internal readonly struct QueryWriter
{
    private const int ChunkChars = 256;

    // Printable ASCII but '"', '#', '%', '&', '+', '=', '\' and the space (written as '+').
    private const string VerbatimAscii = "!$'()*,-./0123456789:;<>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~";

    private static readonly SearchValues<char> Verbatim = SearchValues.Create(VerbatimAscii);

    private static readonly SearchValues<byte> VerbatimBytes = SearchValues.Create(Encoding.ASCII.GetBytes(VerbatimAscii));

    private readonly HitBuffer _buffer;
    private readonly int _start;

    public QueryWriter(HitBuffer buffer)
    {
        _buffer = buffer;
        _start = buffer.Written;
        buffer.GetSpan(1)[0] = (byte)'?';
        buffer.Advance(1);
    }

    /// <summary>Bytes written since the '?', the '?' included.</summary>
    public int Length => _buffer.Written - _start;

    public void Add(string name, ReadOnlySpan<char> value)
    {
        StartParameter(name);
        Escape(_buffer, value);
    }

    // The built-in parameters' names are given pre-encoded (a u8 literal of unreserved characters, e.g. "cid"u8): they
    // are copied, not escaped, for every hit.

    /// <summary><see cref="Add(string, ReadOnlySpan{char})"/> with a name given as its percent-encoded bytes.</summary>
    public void Add(ReadOnlySpan<byte> encodedName, ReadOnlySpan<char> value)
    {
        StartParameter(encodedName);
        Escape(_buffer, value);
    }

    /// <summary>Writes a value that is already percent-encoded (a cached one, written by <see cref="Escape"/>).</summary>
    public void AddEncoded(ReadOnlySpan<byte> encodedName, ReadOnlySpan<byte> escaped)
    {
        StartParameter(encodedName);
        AddRaw(escaped);
    }

    /// <summary>Writes a value given as valid UTF-8 (what Utf8JsonWriter writes), percent-encoding its bytes.</summary>
    public void AddUtf8(ReadOnlySpan<byte> encodedName, ReadOnlySpan<byte> utf8)
    {
        StartParameter(encodedName);
        EscapeUtf8(_buffer, utf8);
    }

    /// <summary>Appends bytes that are already a valid, percent-encoded part of the query, separators included.</summary>
    public void AddRaw(ReadOnlySpan<byte> encoded)
    {
        encoded.CopyTo(_buffer.GetSpan(encoded.Length));
        _buffer.Advance(encoded.Length);
    }

    /// <summary>
    /// Percent-encodes <paramref name="value"/> as UTF-8: the verbatim characters as they are, a space as '+', every
    /// other byte as %XX (upper-case hex). Invalid UTF-16 (a lone surrogate) is encoded as U+FFFD, as
    /// <see cref="Encoding.UTF8"/> does.
    /// </summary>
    public static void Escape(IBufferWriter<byte> writer, ReadOnlySpan<char> value)
    {
        while (!value.IsEmpty)
        {
            var plain = value.IndexOfAnyExcept(Verbatim);
            var ascii = plain < 0 ? value : value[..plain];
            if (!ascii.IsEmpty)
            {
                var span = writer.GetSpan(ascii.Length);
                var narrowed = Encoding.ASCII.GetBytes(ascii, span);
                writer.Advance(narrowed);
            }

            if (plain < 0)
            {
                return;
            }

            value = value[plain..];

            // Encode the run of characters that need escaping, up to the next verbatim one.
            var run = value.IndexOfAny(Verbatim);
            EscapeRun(writer, run < 0 ? value : value[..run]);
            value = run < 0 ? [] : value[run..];
        }
    }

    /// <summary>
    /// Percent-encodes a run of characters that all need it. Apart from <see cref="Escape"/> so that its scratch bytes
    /// (zeroed by the runtime on every entry) cost only values that have such a run, not every parameter.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void EscapeRun(IBufferWriter<byte> writer, ReadOnlySpan<char> chunk)
    {
        // At most 3 UTF-8 bytes per UTF-16 char (a surrogate pair: 4 bytes for 2 chars).
        Span<byte> bytes = stackalloc byte[Math.Min(chunk.Length, ChunkChars) * 3];
        while (!chunk.IsEmpty)
        {
            var take = Math.Min(chunk.Length, ChunkChars);
            if (take < chunk.Length && char.IsHighSurrogate(chunk[take - 1]))
            {
                take--;
            }

            var count = Encoding.UTF8.GetBytes(chunk[..take], bytes);
            WriteHex(writer, bytes[..count]);
            chunk = chunk[take..];
        }
    }

    /// <summary>The percent-encoded UTF-8 of <paramref name="value"/>, for values cached once and written many times.</summary>
    public static byte[] EscapeToArray(ReadOnlySpan<char> value)
    {
        var writer = new ArrayBufferWriter<byte>(Math.Max(16, value.Length + 16));
        Escape(writer, value);
        return writer.WrittenSpan.ToArray();
    }

    public static void EscapeUtf8(IBufferWriter<byte> writer, ReadOnlySpan<byte> utf8)
    {
        while (!utf8.IsEmpty)
        {
            var plain = utf8.IndexOfAnyExcept(VerbatimBytes);
            var ascii = plain < 0 ? utf8 : utf8[..plain];
            if (!ascii.IsEmpty)
            {
                ascii.CopyTo(writer.GetSpan(ascii.Length));
                writer.Advance(ascii.Length);
            }

            if (plain < 0)
            {
                return;
            }

            utf8 = utf8[plain..];
            var run = utf8.IndexOfAny(VerbatimBytes);
            var escape = run < 0 ? utf8 : utf8[..run];
            utf8 = run < 0 ? [] : utf8[run..];
            WriteHex(writer, escape);
        }
    }

    private static void WriteHex(IBufferWriter<byte> writer, ReadOnlySpan<byte> bytes)
    {
        var span = writer.GetSpan(bytes.Length * 3);
        var i = 0;
        foreach (var b in bytes)
        {
            // A space (only a space: no byte of a multi-byte character is 0x20) is '+', one byte instead of three.
            if (b == (byte)' ')
            {
                span[i++] = (byte)'+';
                continue;
            }

            span[i] = (byte)'%';
            span[i + 1] = HexUpper[b >> 4];
            span[i + 2] = HexUpper[b & 0xF];
            i += 3;
        }

        writer.Advance(i);
    }

    private void StartParameter(string name)
    {
        if (_buffer.Written - _start > 1)
        {
            _buffer.GetSpan(1)[0] = (byte)'&';
            _buffer.Advance(1);
        }

        Escape(_buffer, name);
        _buffer.GetSpan(1)[0] = (byte)'=';
        _buffer.Advance(1);
    }

    private void StartParameter(ReadOnlySpan<byte> encodedName)
    {
        var span = _buffer.GetSpan(encodedName.Length + 2);
        var at = 0;
        if (_buffer.Written - _start > 1)
        {
            span[at++] = (byte)'&';
        }

        encodedName.CopyTo(span[at..]);
        at += encodedName.Length;
        span[at++] = (byte)'=';
        _buffer.Advance(at);
    }

    private static ReadOnlySpan<byte> HexUpper => "0123456789ABCDEF"u8;
}
