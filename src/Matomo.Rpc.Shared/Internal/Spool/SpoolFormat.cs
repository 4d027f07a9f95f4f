using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Compression;
using System.Numerics;

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
/// and the query, each as a 7-bit-encoded length and UTF-8 bytes (the spill path writes the query's length padded to 4
/// bytes, see <see cref="SpoolRecords"/>: same layout, so files written before and after that read alike). Lengths and
/// checksums catch a truncated file, a flipped bit and garbage before a single hit is handed out.
/// </summary>
internal static class SpoolFormat
{
    public const int HeaderSize = 28;
    public const byte Version = 1;

    /// <summary>Most hits one file holds; larger batches are written as several files.</summary>
    public const int MaxHitsPerFile = 1000;

    /// <summary>The longest file a header may describe: a longer one is not a spool file.</summary>
    public const int MaxFileBytes = HeaderSize + MaxRecordBytes;

    // A header that claims more than this is not believed (it would make the reader allocate it).
    private const int MaxRecordBytes = 256 * 1024 * 1024;
    private const int MaxHitsRead = 1_000_000;

    // Brotli at quality 1 with a 256 KB window: about 25 bytes a hit in files of 1,000 hits, at about 0.2 µs a hit
    // (quality 1 with the 4 MB window took 0.5 µs for 1 byte less; see SpoolBenchmarks and benchmarks/RESULTS.md).
    private const int BrotliQuality = 1;
    private const int BrotliWindow = 18;

    private static ReadOnlySpan<byte> Magic => "MRSP"u8;

    /// <summary>The bytes of one file holding <paramref name="hits"/> (1 to <see cref="MaxHitsPerFile"/>).</summary>
    public static byte[] Encode(IReadOnlyList<SpooledHit> hits, SpoolCodec codec)
    {
        ArgumentNullException.ThrowIfNull(hits);
        ArgumentOutOfRangeException.ThrowIfZero(hits.Count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(hits.Count, MaxHitsPerFile);
        using var records = new SpoolRecords();
        for (var i = 0; i < hits.Count; i++)
        {
            records.Add(hits[i]);
        }

        var file = Encode(records, 0, hits.Count, codec, out var length);
        try
        {
            return file.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(file);
        }
    }

    /// <summary>
    /// One file holding records <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> - 1 of
    /// <paramref name="records"/> (1 to <see cref="MaxHitsPerFile"/>): its <paramref name="length"/> bytes at the start of
    /// an array rented from the shared pool, which the caller returns.
    /// </summary>
    public static byte[] Encode(SpoolRecords records, int first, int count, SpoolCodec codec, out int length)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentOutOfRangeException.ThrowIfZero(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxHitsPerFile);
        var raw = records.Slice(first, count);
        if (raw.Length > MaxRecordBytes)
        {
            throw new ArgumentException($"The hits take {raw.Length} bytes, more than a spool file holds ({MaxRecordBytes}).", nameof(records));
        }

        var file = ArrayPool<byte>.Shared.Rent(HeaderSize + (codec == SpoolCodec.Brotli ? BrotliEncoder.GetMaxCompressedLength(raw.Length) : raw.Length));
        var payload = file.AsSpan(HeaderSize);
        int stored;
        if (codec == SpoolCodec.Brotli && TryCompress(raw, payload, out stored) && stored < raw.Length)
        {
            length = Frame(file, stored, count, SpoolCodec.Brotli, raw.Length);
            return file;
        }

        raw.CopyTo(payload);
        length = Frame(file, raw.Length, count, SpoolCodec.None, raw.Length);
        return file;
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
        if (!TryDecodeRecords(file, out var records, out problem))
        {
            return false;
        }

        using (records)
        {
            hits = records.ToSpooledHits();
            return true;
        }
    }

    /// <summary>
    /// Decodes a whole file into records (the payload decompressed into their pooled buffer, which the caller owns);
    /// false with the problem when any check fails (nothing is half-read).
    /// </summary>
    public static bool TryDecodeRecords(ReadOnlySpan<byte> file, [NotNullWhen(true)] out SpoolRecords? records, out string? problem)
    {
        records = null;
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
        var decoded = new SpoolRecords(rawLength);
        var buffer = decoded.Buffer;
        if ((SpoolCodec)file[5] == SpoolCodec.Brotli)
        {
            if (!BrotliDecoder.TryDecompress(payload, buffer.GetSpan(Math.Max(rawLength, 1))[..rawLength], out var written) || written != rawLength)
            {
                decoded.Dispose();
                problem = "payload does not decompress to its declared length";
                return false;
            }

            buffer.Advance(written);
        }
        else
        {
            payload.CopyTo(buffer.GetSpan(payload.Length));
            buffer.Advance(payload.Length);
        }

        if (!decoded.TryIndex(count, out problem))
        {
            decoded.Dispose();
            return false;
        }

        records = decoded;
        return true;
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

    private static bool TryCompress(ReadOnlySpan<byte> raw, Span<byte> destination, out int written)
    {
        using var encoder = new BrotliEncoder(BrotliQuality, BrotliWindow);
        if (encoder.Compress(raw, destination, out _, out written, isFinalBlock: true) != OperationStatus.Done)
        {
            written = 0;
            return false;
        }

        return true;
    }

    /// <summary>Writes the header before the <paramref name="stored"/> payload bytes already at offset 28; the file's length.</summary>
    private static int Frame(byte[] file, int stored, int count, SpoolCodec codec, int rawLength)
    {
        var span = file.AsSpan();
        Magic.CopyTo(span);
        span[4] = Version;
        span[5] = (byte)codec;
        span[6] = 0;
        span[7] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], (uint)count);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], (uint)rawLength);
        BinaryPrimitives.WriteUInt32LittleEndian(span[16..], (uint)stored);
        BinaryPrimitives.WriteUInt32LittleEndian(span[20..], Crc32C(span.Slice(HeaderSize, stored)));
        BinaryPrimitives.WriteUInt32LittleEndian(span[24..], Crc32C(span[..24]));
        return HeaderSize + stored;
    }
}
