using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// Spool records back to back in one pooled <see cref="HitBuffer"/>, in the layout of a file's payload (see
/// <see cref="SpoolFormat"/>): what the spill path encodes hits straight into (no string or object per hit), what a
/// file is compressed from, and what a file read back is decompressed into, so that a replayed hit's query is bytes in
/// its batch's buffer, as a live hit's is. Not thread-safe; owned by one writer or one reader at a time.
/// </summary>
internal sealed class SpoolRecords : IDisposable
{
    // The query's length is written as a 7-bit-encoded number padded to 4 bytes (continuation bits set on the first
    // three): it is reserved before the encoder writes the query and filled in after, and every reader of 7-bit lengths
    // (this version's included) reads it as it reads a minimal one. Queries are far shorter than 2^28 bytes.
    private const int PaddedLengthSize = 4;
    private const int MaxPaddedLength = (1 << 28) - 1;
    private const int ActionCacheSize = 8;

    // What a JSON string may hold unescaped: printable ASCII other than '"' and '\'. The encoder's queries always are.
    private static readonly SearchValues<byte> JsonSafe = SearchValues.Create(
        " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"u8);

    private HitBuffer? _buffer;
    private Record[] _records;
    private int _count;
    private int _isolated;
    private (byte[] Utf8, string Text)[]? _actions;
    private int _nextAction;

    /// <param name="bytes">Expected bytes (e.g. hits × 512), to spare the buffer's growth.</param>
    public SpoolRecords(int bytes = 0)
    {
        _buffer = new HitBuffer(Math.Clamp(bytes, 1024, 16 * 1024 * 1024));
        _records = ArrayPool<Record>.Shared.Rent(Math.Clamp(bytes / 400, 16, 64 * 1024));
    }

    /// <summary>Records held.</summary>
    public int Count => _count;

    /// <summary>Records of hits that hold a place in the queue: all but the isolated (Crash Analytics) ones.</summary>
    public int Places => _count - _isolated;

    /// <summary>Where a record's query is encoded between <see cref="Begin"/> and <see cref="End"/>.</summary>
    public HitBuffer Buffer => _buffer ?? throw new ObjectDisposedException(nameof(SpoolRecords));

    /// <summary>The bytes of records <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> - 1.</summary>
    public ReadOnlySpan<byte> Slice(int first, int count)
    {
        var start = _records[first].Start;
        var end = first + count < _count ? _records[first + count].Start : Buffer.Written;
        return Buffer.Slice(start, end - start);
    }

    /// <summary>Places of records <paramref name="first"/> to the last.</summary>
    public int PlacesFrom(int first)
    {
        var places = 0;
        for (var i = first; i < _count; i++)
        {
            places += _records[i].Isolated ? 0 : 1;
        }

        return places;
    }

    /// <summary>
    /// Starts a record: writes its time, flags, action and (empty) visitor key, and reserves the query's length. The query
    /// is then written into <see cref="Buffer"/>; <see cref="End"/> completes the record, <see cref="Cancel"/> forgets it.
    /// </summary>
    /// <returns>The record's start, for <see cref="End"/> or <see cref="Cancel"/>.</returns>
    public int Begin(DateTimeOffset timestamp, string? action, bool isolated)
    {
        var buffer = Buffer;
        var start = buffer.Written;
        var actionBytes = string.IsNullOrEmpty(action) ? 0 : Encoding.UTF8.GetByteCount(action);
        var span = buffer.GetSpan(9 + 5 + actionBytes + 1 + PaddedLengthSize);
        BinaryPrimitives.WriteInt64LittleEndian(span, timestamp.UtcTicks);
        span[8] = isolated ? (byte)1 : (byte)0;
        var offset = 9 + WriteLength(span[9..], actionBytes);
        if (actionBytes > 0)
        {
            offset += Encoding.UTF8.GetBytes(action, span[offset..]);
        }

        span[offset++] = 0; // no visitor key: the hit's query carries the visitor
        buffer.Advance(offset + PaddedLengthSize);
        return start;
    }

    /// <summary>Completes the record begun at <paramref name="start"/>: the query is what was written since.</summary>
    public void End(int start)
    {
        var buffer = Buffer;
        var record = Parse(buffer.Slice(start, buffer.Written - start), start, padded: true);
        var length = buffer.Written - record.QueryOffset;
        if (length > MaxPaddedLength)
        {
            Cancel(start);
            throw new InvalidOperationException($"A query of {length} bytes is too long for the spool.");
        }

        WritePaddedLength(buffer.Writable(record.QueryOffset - PaddedLengthSize, PaddedLengthSize), length);
        Append(record with { QueryLength = length });
    }

    /// <summary>Forgets the record begun at <paramref name="start"/> (its query could not be encoded).</summary>
    public void Cancel(int start) => Buffer.Truncate(start);

    /// <summary>Adds a hit whose query is already encoded (a string read back from an older file, tests).</summary>
    public void Add(DateTimeOffset timestamp, string? action, string? visitorKey, bool isolated, ReadOnlySpan<byte> queryUtf8)
    {
        var buffer = Buffer;
        var start = buffer.Written;
        var actionBytes = string.IsNullOrEmpty(action) ? 0 : Encoding.UTF8.GetByteCount(action);
        var visitorBytes = string.IsNullOrEmpty(visitorKey) ? 0 : Encoding.UTF8.GetByteCount(visitorKey);
        var span = buffer.GetSpan(9 + 15 + actionBytes + visitorBytes + queryUtf8.Length);
        BinaryPrimitives.WriteInt64LittleEndian(span, timestamp.UtcTicks);
        span[8] = isolated ? (byte)1 : (byte)0;
        var offset = 9 + WriteLength(span[9..], actionBytes);
        offset += actionBytes > 0 ? Encoding.UTF8.GetBytes(action, span[offset..]) : 0;
        offset += WriteLength(span[offset..], visitorBytes);
        offset += visitorBytes > 0 ? Encoding.UTF8.GetBytes(visitorKey, span[offset..]) : 0;
        offset += WriteLength(span[offset..], queryUtf8.Length);
        queryUtf8.CopyTo(span[offset..]);
        offset += queryUtf8.Length;
        buffer.Advance(offset);
        Append(Parse(buffer.Slice(start, offset), start, padded: false));
    }

    /// <summary>Adds a hit as the spool keeps it.</summary>
    public void Add(in SpooledHit hit)
    {
        var query = hit.Query ?? string.Empty;
        var rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(query.Length));
        try
        {
            var length = Encoding.UTF8.GetBytes(query, rented);
            Add(hit.Timestamp, hit.Action, hit.VisitorKey, hit.Isolated, rented.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Adds a pending hit: its bytes as they are when it has them, else its query string in UTF-8.</summary>
    public void Add(PendingHit hit)
    {
        ArgumentNullException.ThrowIfNull(hit);
        if (hit.TryGetUtf8(out var utf8))
        {
            Add(hit.Timestamp, hit.Action, null, hit.IsCrash, utf8);
        }
        else
        {
            Add(new SpooledHit(hit.Query, hit.Timestamp, string.Empty, hit.Action, hit.IsCrash));
        }
    }

    /// <summary>
    /// Reads <paramref name="count"/> records from what was written into <see cref="Buffer"/> (a file's payload);
    /// false with the problem when any record is cut short or holds something no writer writes (nothing is half-read).
    /// </summary>
    public bool TryIndex(int count, out string? problem)
    {
        var buffer = Buffer;
        var raw = buffer.Slice(0, buffer.Written);
        var offset = 0;
        _count = 0;
        _isolated = 0;
        for (var i = 0; i < count; i++)
        {
            if (!TryParse(raw, ref offset, out var record, out problem))
            {
                problem = $"record {i} {problem}";
                _count = 0;
                return false;
            }

            Append(record);
        }

        if (offset != raw.Length)
        {
            problem = $"{raw.Length - offset} bytes after the last record";
            _count = 0;
            return false;
        }

        problem = null;
        return true;
    }

    /// <summary>
    /// Adds pending hits for records <paramref name="first"/> to the last, oldest first, to <paramref name="hits"/> (or to
    /// <paramref name="isolated"/>, for hits sent alone). Their queries stay bytes in <see cref="Buffer"/> (plain ASCII, as
    /// this encoder writes them; any other query becomes a string, escaped when the body is written): the batch they go
    /// to must own the buffer (<see cref="TakeBuffer"/>).
    /// </summary>
    public void ToPendingHits(int first, List<PendingHit> hits, List<PendingHit> isolated)
    {
        ArgumentNullException.ThrowIfNull(hits);
        ArgumentNullException.ThrowIfNull(isolated);
        var buffer = Buffer;
        for (var i = first; i < _count; i++)
        {
            ref readonly var record = ref _records[i];
            var time = new DateTimeOffset(record.Ticks, TimeSpan.Zero);
            var action = ActionOf(record);
            var query = buffer.Slice(record.QueryOffset, record.QueryLength);
            var hit = query.IndexOfAnyExcept(JsonSafe) < 0
                ? new PendingHit(buffer, record.QueryOffset, record.QueryLength, time, action, record.Isolated)
                : PendingHit.FromSpooled(new SpooledHit(Encoding.UTF8.GetString(query), time, string.Empty, action, record.Isolated));
            (record.Isolated ? isolated : hits).Add(hit);
        }
    }

    /// <summary>The records as the spool keeps them, with strings (tests, tools).</summary>
    public SpooledHit[] ToSpooledHits()
    {
        var buffer = Buffer;
        var hits = new SpooledHit[_count];
        for (var i = 0; i < _count; i++)
        {
            ref readonly var record = ref _records[i];
            hits[i] = new SpooledHit(
                Encoding.UTF8.GetString(buffer.Slice(record.QueryOffset, record.QueryLength)),
                new DateTimeOffset(record.Ticks, TimeSpan.Zero),
                record.VisitorLength == 0 ? string.Empty : Encoding.UTF8.GetString(buffer.Slice(record.VisitorOffset, record.VisitorLength)),
                ActionOf(record),
                record.Isolated);
        }

        return hits;
    }

    /// <summary>Hands the buffer to a batch, which returns it to the pool when it is done; the records are no longer usable.</summary>
    public HitBuffer TakeBuffer()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null) ?? throw new ObjectDisposedException(nameof(SpoolRecords));
        Dispose();
        return buffer;
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _buffer, null)?.Dispose();
        if (Interlocked.Exchange(ref _records, []) is { Length: > 0 } records)
        {
            ArrayPool<Record>.Shared.Return(records);
        }

        _count = 0;
    }

    private static int WriteLength(Span<byte> span, int value)
    {
        var offset = 0;
        var v = (uint)value;
        while (v >= 0x80)
        {
            span[offset++] = (byte)(v | 0x80);
            v >>= 7;
        }

        span[offset++] = (byte)v;
        return offset;
    }

    private static void WritePaddedLength(Span<byte> span, int value)
    {
        span[0] = (byte)((value & 0x7F) | 0x80);
        span[1] = (byte)(((value >> 7) & 0x7F) | 0x80);
        span[2] = (byte)(((value >> 14) & 0x7F) | 0x80);
        span[3] = (byte)((value >> 21) & 0x7F);
    }

    private static bool TryReadLength(ReadOnlySpan<byte> raw, ref int offset, out int length)
    {
        length = 0;
        var shift = 0;
        while (true)
        {
            if (offset >= raw.Length || shift > 28)
            {
                return false;
            }

            var b = raw[offset++];
            length |= (b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                break;
            }

            shift += 7;
        }

        return length >= 0 && length <= raw.Length - offset;
    }

    private static bool TryParse(ReadOnlySpan<byte> raw, ref int offset, out Record record, out string? problem)
    {
        record = default;
        var start = offset;
        if (raw.Length - offset < 9)
        {
            problem = "is cut short";
            return false;
        }

        var ticks = BinaryPrimitives.ReadInt64LittleEndian(raw[offset..]);
        var flags = raw[offset + 8];
        offset += 9;
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks || flags > 1)
        {
            problem = "has an impossible time or flags";
            return false;
        }

        if (!TryReadLength(raw, ref offset, out var actionLength))
        {
            problem = "is cut short";
            return false;
        }

        var actionOffset = offset;
        offset += actionLength;
        if (!TryReadLength(raw, ref offset, out var visitorLength))
        {
            problem = "is cut short";
            return false;
        }

        var visitorOffset = offset;
        offset += visitorLength;
        if (!TryReadLength(raw, ref offset, out var queryLength))
        {
            problem = "is cut short";
            return false;
        }

        var queryOffset = offset;
        offset += queryLength;
        if (!Utf8.IsValid(raw.Slice(actionOffset, actionLength)) || !Utf8.IsValid(raw.Slice(visitorOffset, visitorLength))
            || !Utf8.IsValid(raw.Slice(queryOffset, queryLength)))
        {
            problem = "has a text that is not valid UTF-8";
            return false;
        }

        if (queryLength == 0 || raw[queryOffset] != (byte)'?')
        {
            problem = "has a query that does not start with '?'";
            return false;
        }

        record = new Record(start, ticks, flags == 1, actionOffset, actionLength, visitorOffset, visitorLength, queryOffset, queryLength);
        problem = null;
        return true;
    }

    /// <summary>The record written at <paramref name="start"/> in <paramref name="bytes"/> (it starts there); the query may be unfinished.</summary>
    private static Record Parse(ReadOnlySpan<byte> bytes, int start, bool padded)
    {
        var offset = 9;
        TryReadLength(bytes, ref offset, out var actionLength);
        var actionOffset = offset;
        offset += actionLength;
        TryReadLength(bytes, ref offset, out var visitorLength);
        var visitorOffset = offset;
        offset += visitorLength;
        int queryLength;
        if (padded)
        {
            offset += PaddedLengthSize;
            queryLength = bytes.Length - offset;
        }
        else
        {
            TryReadLength(bytes, ref offset, out queryLength);
        }

        return new Record(start, BinaryPrimitives.ReadInt64LittleEndian(bytes), bytes[8] == 1,
            start + actionOffset, actionLength, start + visitorOffset, visitorLength, start + offset, queryLength);
    }

    private void Append(in Record record)
    {
        if (_count == _records.Length)
        {
            var larger = ArrayPool<Record>.Shared.Rent(_records.Length * 2);
            _records.AsSpan(0, _count).CopyTo(larger);
            ArrayPool<Record>.Shared.Return(_records);
            _records = larger;
        }

        _records[_count++] = record;
        _isolated += record.Isolated ? 1 : 0;
    }

    /// <summary>A record's action as a string; the few actions of a service are made once per batch, not once per hit.</summary>
    private string ActionOf(in Record record)
    {
        if (record.ActionLength == 0)
        {
            return string.Empty;
        }

        var utf8 = Buffer.Slice(record.ActionOffset, record.ActionLength);
        var cache = _actions ??= new (byte[], string)[ActionCacheSize];
        foreach (var (bytes, text) in cache)
        {
            if (bytes is not null && utf8.SequenceEqual(bytes))
            {
                return text;
            }
        }

        var action = Encoding.UTF8.GetString(utf8);
        cache[_nextAction] = (utf8.ToArray(), action);
        _nextAction = (_nextAction + 1) % ActionCacheSize;
        return action;
    }

    private readonly record struct Record(
        int Start, long Ticks, bool Isolated, int ActionOffset, int ActionLength, int VisitorOffset, int VisitorLength, int QueryOffset, int QueryLength);
}
