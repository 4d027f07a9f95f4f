using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using System.Text;

namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// The spool file format, version 1. A file is one batch of hits, all little-endian:
/// <code>
///  0  4  magic "MRSP"
///  4  1  version (1)
///  5  1  codec (0 none, 1 Brotli)
///  6  2  reserved (0)
///  8  4  hit count (1 or more)
/// 12  4  length of the records (decoded)
/// 16  4  length of the stored payload (the file is exactly 28 + this long)
/// 20  4  CRC-32C of the stored payload
/// 24  4  CRC-32C of bytes 0-23
/// 28     payload: the records, through the codec
/// </code>
/// A record: the hit's end time in UTC ticks (8 bytes), flags (1 byte, bit 0 isolated), then the action, the visitor key
/// and the query, each as a 7-bit-encoded length and UTF-8 bytes. Lengths and checksums catch a truncated file, a
/// flipped bit and garbage before a single hit is handed out.
/// </summary>
internal static class SpoolFormat
{
    public const int HeaderSize = 28;
    public const byte Version = 1;

    /// <summary>Most hits one file holds; larger batches are written as several files.</summary>
    public const int MaxHitsPerFile = 1000;

    // A header that claims more than this is not believed (it would make the reader allocate it).
    private const int MaxRecordBytes = 256 * 1024 * 1024;
    private const int MaxHitsRead = 1_000_000;
    private const int BrotliQuality = 1;
    private const int BrotliWindow = 22;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static ReadOnlySpan<byte> Magic => "MRSP"u8;

    /// <summary>The bytes of one file holding <paramref name="hits"/> (1 to <see cref="MaxHitsPerFile"/>).</summary>
    public static byte[] Encode(IReadOnlyList<SpooledHit> hits, SpoolCodec codec)
    {
        ArgumentNullException.ThrowIfNull(hits);
        ArgumentOutOfRangeException.ThrowIfZero(hits.Count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(hits.Count, MaxHitsPerFile);

        var rawLength = 0L;
        for (var i = 0; i < hits.Count; i++)
        {
            var hit = hits[i];
            rawLength += 9 + StringSize(hit.Action) + StringSize(hit.VisitorKey) + StringSize(hit.Query);
        }

        if (rawLength > MaxRecordBytes)
        {
            throw new ArgumentException($"The hits take {rawLength} bytes, more than a spool file holds ({MaxRecordBytes}).", nameof(hits));
        }

        var raw = ArrayPool<byte>.Shared.Rent((int)rawLength);
        try
        {
            var span = raw.AsSpan(0, (int)rawLength);
            var offset = 0;
            for (var i = 0; i < hits.Count; i++)
            {
                var hit = hits[i];
                BinaryPrimitives.WriteInt64LittleEndian(span[offset..], hit.Timestamp.UtcTicks);
                span[offset + 8] = hit.Isolated ? (byte)1 : (byte)0;
                offset += 9;
                offset += WriteString(span[offset..], hit.Action);
                offset += WriteString(span[offset..], hit.VisitorKey);
                offset += WriteString(span[offset..], hit.Query);
            }

            return codec == SpoolCodec.Brotli ? Compress(span, hits.Count) : Frame(span, hits.Count, SpoolCodec.None, span.Length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    /// <summary>Reads the header; false with the problem when it is not one this version wrote.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> file, long fileLength, out int hitCount, out string? problem)
    {
        hitCount = 0;
        if (file.Length < HeaderSize || fileLength < HeaderSize)
        {
            problem = $"{fileLength} bytes, shorter than the {HeaderSize}-byte header";
            return false;
        }

        if (!file[..4].SequenceEqual(Magic))
        {
            problem = "not a spool file (no MRSP magic)";
            return false;
        }

        if (Crc32C(file[..24]) != BinaryPrimitives.ReadUInt32LittleEndian(file[24..]))
        {
            problem = "header checksum mismatch";
            return false;
        }

        if (file[4] != Version)
        {
            problem = $"version {file[4]}, this version reads {Version}";
            return false;
        }

        var codec = file[5];
        var count = BinaryPrimitives.ReadUInt32LittleEndian(file[8..]);
        var rawLength = BinaryPrimitives.ReadUInt32LittleEndian(file[12..]);
        var storedLength = BinaryPrimitives.ReadUInt32LittleEndian(file[16..]);
        if (codec > (byte)SpoolCodec.Brotli || BinaryPrimitives.ReadUInt16LittleEndian(file[6..]) != 0
            || count == 0 || count > MaxHitsRead || rawLength > MaxRecordBytes || (codec == (byte)SpoolCodec.None && storedLength != rawLength))
        {
            problem = "header values out of range";
            return false;
        }

        if (fileLength != HeaderSize + (long)storedLength)
        {
            problem = $"{fileLength} bytes where the header says {HeaderSize + (long)storedLength} (truncated or extended)";
            return false;
        }

        hitCount = (int)count;
        problem = null;
        return true;
    }

    /// <summary>Decodes a whole file; false with the problem when any check fails (nothing is half-read).</summary>
    public static bool TryDecode(ReadOnlySpan<byte> file, out SpooledHit[] hits, out string? problem)
    {
        hits = [];
        if (!TryReadHeader(file, file.Length, out var count, out problem))
        {
            return false;
        }

        var payload = file[HeaderSize..];
        if (Crc32C(payload) != BinaryPrimitives.ReadUInt32LittleEndian(file[20..]))
        {
            problem = "payload checksum mismatch";
            return false;
        }

        var rawLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(file[12..]);
        byte[]? rented = null;
        try
        {
            ReadOnlySpan<byte> raw;
            if ((SpoolCodec)file[5] == SpoolCodec.Brotli)
            {
                rented = ArrayPool<byte>.Shared.Rent(Math.Max(rawLength, 1));
                if (!BrotliDecoder.TryDecompress(payload, rented, out var written) || written != rawLength)
                {
                    problem = "payload does not decompress to its declared length";
                    return false;
                }

                raw = rented.AsSpan(0, rawLength);
            }
            else
            {
                raw = payload;
            }

            return TryParseRecords(raw, count, out hits, out problem);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>CRC-32C (Castagnoli), hardware-accelerated where the CPU has it.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return ~crc;
    }

    private static bool TryParseRecords(ReadOnlySpan<byte> raw, int count, out SpooledHit[] hits, out string? problem)
    {
        hits = [];
        var result = new SpooledHit[count];
        var offset = 0;
        try
        {
            for (var i = 0; i < count; i++)
            {
                if (raw.Length - offset < 9)
                {
                    problem = $"record {i} is cut short";
                    return false;
                }

                var ticks = BinaryPrimitives.ReadInt64LittleEndian(raw[offset..]);
                var flags = raw[offset + 8];
                offset += 9;
                if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks || flags > 1)
                {
                    problem = $"record {i} has an impossible time or flags";
                    return false;
                }

                if (!TryReadString(raw, ref offset, out var action) || !TryReadString(raw, ref offset, out var visitor)
                    || !TryReadString(raw, ref offset, out var query))
                {
                    problem = $"record {i} is cut short";
                    return false;
                }

                if (query.Length == 0 || query[0] != '?')
                {
                    problem = $"record {i} has a query that does not start with '?'";
                    return false;
                }

                result[i] = new SpooledHit(query, new DateTimeOffset(ticks, TimeSpan.Zero), visitor, action, flags == 1);
            }
        }
        catch (DecoderFallbackException)
        {
            problem = "a text is not valid UTF-8";
            return false;
        }

        if (offset != raw.Length)
        {
            problem = $"{raw.Length - offset} bytes after the last record";
            return false;
        }

        hits = result;
        problem = null;
        return true;
    }

    private static bool TryReadString(ReadOnlySpan<byte> raw, ref int offset, out string value)
    {
        value = string.Empty;
        var length = 0;
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

        if (length < 0 || length > raw.Length - offset)
        {
            return false;
        }

        value = length == 0 ? string.Empty : StrictUtf8.GetString(raw.Slice(offset, length));
        offset += length;
        return true;
    }

    private static long StringSize(string? value)
    {
        var bytes = string.IsNullOrEmpty(value) ? 0 : Encoding.UTF8.GetByteCount(value);
        var prefix = 1;
        for (var v = (uint)bytes; v >= 0x80; v >>= 7)
        {
            prefix++;
        }

        return prefix + bytes;
    }

    private static int WriteString(Span<byte> span, string? value)
    {
        var bytes = string.IsNullOrEmpty(value) ? 0 : Encoding.UTF8.GetByteCount(value);
        var offset = 0;
        var v = (uint)bytes;
        while (v >= 0x80)
        {
            span[offset++] = (byte)(v | 0x80);
            v >>= 7;
        }

        span[offset++] = (byte)v;
        if (bytes > 0)
        {
            offset += Encoding.UTF8.GetBytes(value, span[offset..]);
        }

        return offset;
    }

    private static byte[] Compress(ReadOnlySpan<byte> raw, int count)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BrotliEncoder.GetMaxCompressedLength(raw.Length));
        try
        {
            if (BrotliEncoder.TryCompress(raw, buffer, out var written, BrotliQuality, BrotliWindow) && written < raw.Length)
            {
                return Frame(buffer.AsSpan(0, written), count, SpoolCodec.Brotli, raw.Length);
            }

            return Frame(raw, count, SpoolCodec.None, raw.Length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static byte[] Frame(ReadOnlySpan<byte> payload, int count, SpoolCodec codec, int rawLength)
    {
        var file = new byte[HeaderSize + payload.Length];
        var span = file.AsSpan();
        Magic.CopyTo(span);
        span[4] = Version;
        span[5] = (byte)codec;
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], (uint)count);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], (uint)rawLength);
        BinaryPrimitives.WriteUInt32LittleEndian(span[16..], (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(span[20..], Crc32C(payload));
        BinaryPrimitives.WriteUInt32LittleEndian(span[24..], Crc32C(span[..24]));
        payload.CopyTo(span[HeaderSize..]);
        return file;
    }
}
