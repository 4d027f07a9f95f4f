using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Matomo.Rpc.Internal;
using Matomo.Rpc.Internal.Spool;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>
/// The spill path's records (hits encoded straight into the spool's buffer, lengths filled in after) and the replay
/// path's (queries kept as bytes in the batch's buffer), against the file format's reader.
/// </summary>
[TestFixture]
public class SpoolRecordsTests
{
    /// <summary>Writes each hit's query the way the spill path does: a record begun, the query written into its buffer, ended.</summary>
    private static SpoolRecords Spilled(IEnumerable<SpooledHit> hits)
    {
        var records = new SpoolRecords();
        foreach (var hit in hits)
        {
            var start = records.Begin(hit.Timestamp, hit.Action, hit.Isolated);
            var query = Encoding.UTF8.GetBytes(hit.Query);
            query.CopyTo(records.Buffer.GetSpan(query.Length));
            records.Buffer.Advance(query.Length);
            records.End(start);
        }

        return records;
    }

    private static byte[] File(SpoolRecords records, SpoolCodec codec)
    {
        var file = SpoolFormat.Encode(records, 0, records.Count, codec, out var length);
        try
        {
            return file.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(file);
        }
    }

    [Test]
    public void Decode_FileOfSpilledRecords_ReadsTheSameHits([Values] bool brotli)
    {
        var hits = SpoolHits.Range(0, 300).Select(h => h with { VisitorKey = string.Empty }).ToArray();
        using var records = Spilled(hits);

        var ok = SpoolFormat.TryDecode(File(records, brotli ? SpoolCodec.Brotli : SpoolCodec.None), out var decoded, out var problem);

        Assert.That(ok, Is.True, problem);
        Assert.That(decoded, Is.EqualTo(hits));
        Assert.That(records.Places, Is.EqualTo(hits.Count(h => !h.Isolated)));
    }

    [Test]
    public void Decode_QueryLongerThanOneLengthByte_ReadsItWhole()
    {
        // Lengths of 0x7F, 0x80 and 0x3FFF/0x4000 bytes cross the 7-bit boundaries the padded length must encode.
        SpooledHit[] hits = [.. new[] { 1, 0x7F, 0x80, 0x3FFF, 0x4000, 70_000 }.Select(n => new SpooledHit("?" + new string('q', n - 1), SpoolHits.Start))];
        using var records = Spilled(hits);

        var ok = SpoolFormat.TryDecode(File(records, SpoolCodec.None), out var decoded, out var problem);

        Assert.That(ok, Is.True, problem);
        Assert.That(decoded.Select(h => h.Query.Length), Is.EqualTo(hits.Select(h => h.Query.Length)));
        Assert.That(decoded, Is.EqualTo(hits));
    }

    [Test]
    public void Cancel_RecordWhoseQueryFailed_LeavesNoTrace()
    {
        using var records = new SpoolRecords();
        var hit = SpoolHits.Hit(1);
        var start = records.Begin(hit.Timestamp, hit.Action, isolated: false);
        "?idsite=1&half-writ"u8.CopyTo(records.Buffer.GetSpan(32));
        records.Buffer.Advance(19);
        records.Cancel(start);
        start = records.Begin(hit.Timestamp, hit.Action, isolated: false);
        var query = Encoding.UTF8.GetBytes(hit.Query);
        query.CopyTo(records.Buffer.GetSpan(query.Length));
        records.Buffer.Advance(query.Length);
        records.End(start);

        var ok = SpoolFormat.TryDecode(File(records, SpoolCodec.Brotli), out var decoded, out var problem);

        Assert.That(ok, Is.True, problem);
        Assert.That(decoded, Is.EqualTo(new[] { hit with { VisitorKey = string.Empty, Isolated = false } }));
    }

    [Test]
    public void TryDecodeRecords_ToPendingHits_QueriesStayBytesAndIsolatedHitsGoApart()
    {
        var hits = SpoolHits.Range(0, 100);
        using var written = Spilled(hits);
        Assert.That(SpoolFormat.TryDecodeRecords(File(written, SpoolCodec.Brotli), out var records, out var problem), Is.True, problem);
        List<PendingHit> live = [], isolated = [];

        records!.ToPendingHits(0, live, isolated);
        using var buffer = records.TakeBuffer();

        Assert.That(live.Select(h => h.Query), Is.EqualTo(hits.Where(h => !h.Isolated).Select(h => h.Query)));
        Assert.That(isolated.Select(h => h.Query), Is.EqualTo(hits.Where(h => h.Isolated).Select(h => h.Query)));
        Assert.That(isolated, Has.All.Matches<PendingHit>(h => h.IsCrash));
        Assert.That(live.Concat(isolated).Select(h => h.Timestamp), Is.EquivalentTo(hits.Select(h => h.Timestamp)));
        Assert.That(live, Has.All.Matches<PendingHit>(h => h.TryGetUtf8(out _)), "replayed queries are bytes in the batch's buffer, as live ones");
        Assert.That(live.Select(h => h.Action).Distinct().Count(), Is.EqualTo(1));
        Assert.That(ReferenceEquals(live[0].Action, live[^1].Action), Is.True, "an action is made once per batch, not once per hit");
    }

    [Test]
    public void ToPendingHits_QueryThatIsNotPlainAscii_BecomesAString()
    {
        // Not what this encoder writes (it percent-encodes), but a file may hold it: it must not reach the JSON body raw.
        var odd = new SpooledHit("?idsite=1&rec=1&action_name=say \"hi\"\\é", SpoolHits.Start, string.Empty, "A", false);
        using var written = Spilled([odd, SpoolHits.Hit(2) with { Isolated = false }]);
        Assert.That(SpoolFormat.TryDecodeRecords(File(written, SpoolCodec.None), out var records, out var problem), Is.True, problem);
        List<PendingHit> live = [];

        records!.ToPendingHits(0, live, []);
        using var buffer = records.TakeBuffer();

        Assert.That(live[0].TryGetUtf8(out _), Is.False, "a query with quotes, backslashes or non-ASCII is escaped by the body writer");
        Assert.That(live[0].Query, Is.EqualTo(odd.Query));
        Assert.That(live[1].TryGetUtf8(out _), Is.True);
    }

    [Test]
    public void TryDecode_FileAsTheFirstWriterWroteIt_ReadsIt([Values] bool brotli)
    {
        // Minimal 7-bit lengths and Brotli at quality 1 with a 4 MB window: the files the spool wrote before the spill
        // path encoded into its records (same version, same layout), built here byte by byte.
        var hits = new[] { SpoolHits.Hit(3), SpoolHits.Hit(49) };
        var raw = new List<byte>();
        foreach (var hit in hits)
        {
            raw.AddRange(BitConverter.GetBytes(hit.Timestamp.UtcTicks));
            raw.Add(hit.Isolated ? (byte)1 : (byte)0);
            foreach (var text in new[] { hit.Action, hit.VisitorKey, hit.Query })
            {
                var bytes = Encoding.UTF8.GetBytes(text);
                for (var v = (uint)bytes.Length; ; v >>= 7)
                {
                    raw.Add(v >= 0x80 ? (byte)(v | 0x80) : (byte)v);
                    if (v < 0x80)
                    {
                        break;
                    }
                }

                raw.AddRange(bytes);
            }
        }

        var payload = raw.ToArray();
        if (brotli)
        {
            var compressed = new byte[BrotliEncoder.GetMaxCompressedLength(payload.Length)];
            Assert.That(BrotliEncoder.TryCompress(payload, compressed, out var written, 1, 22), Is.True);
            payload = compressed[..written];
        }

        var file = new byte[SpoolFormat.HeaderSize + payload.Length];
        "MRSP"u8.CopyTo(file);
        file[4] = 1;
        file[5] = brotli ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(8), (uint)hits.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(12), (uint)raw.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(16), (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(20), SpoolFormat.Crc32C(payload));
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(24), SpoolFormat.Crc32C(file.AsSpan(0, 24)));
        payload.CopyTo(file, SpoolFormat.HeaderSize);

        var ok = SpoolFormat.TryDecode(file, out var decoded, out var problem);

        Assert.That(ok, Is.True, problem);
        Assert.That(decoded, Is.EqualTo(hits));
    }
}
