using System.Text;
using Matomo.Rpc.Internal.Spool;

namespace Matomo.Rpc.Shared.Tests.Spool;

[TestFixture]
public class SpoolFormatTests
{
    private static SpooledHit[] Mixed() =>
    [
        new("?idsite=1&rec=1&action_name=caf%C3%A9", new DateTimeOffset(2026, 11, 30, 5, 1, 2, 345, TimeSpan.Zero).AddTicks(6789), "0123456789abcdef", "Chat/Send", false),
        new("?idsite=1&rec=1&ca=1&cra=boom", new DateTimeOffset(2026, 11, 30, 6, 0, 0, TimeSpan.FromHours(2)), string.Empty, string.Empty, true),
        new("?x=" + new string('a', 300), DateTimeOffset.UnixEpoch, "visiteur-é-日本", "Hub/Méthode 🚀", false),
    ];

    [Test]
    public void Crc32C_CheckValue_MatchesCastagnoli()
    {
        var crc = SpoolFormat.Crc32C("123456789"u8);

        Assert.That(crc, Is.EqualTo(0xE3069283u));
    }

    [Test]
    public void Decode_EncodedHits_RoundTrips([Values] bool brotli)
    {
        var codec = brotli ? SpoolCodec.Brotli : SpoolCodec.None;
        var hits = Mixed();

        var file = SpoolFormat.Encode(hits, codec);
        var ok = SpoolFormat.TryDecode(file, out var decoded, out var problem);

        Assert.That(ok, Is.True, problem);
        Assert.That(decoded, Is.EqualTo(hits.Select(h => h with { Timestamp = h.Timestamp.ToUniversalTime() })));
        Assert.That(decoded.Select(h => h.Timestamp.UtcTicks), Is.EqualTo(hits.Select(h => h.Timestamp.UtcTicks)), "times are kept to the tick");
    }

    [Test]
    public void Decode_RealisticBatch_RoundTripsAndBrotliIsSmaller()
    {
        var hits = SpoolHits.Range(0, 100);

        var raw = SpoolFormat.Encode(hits, SpoolCodec.None);
        var compressed = SpoolFormat.Encode(hits, SpoolCodec.Brotli);
        var ok = SpoolFormat.TryDecode(compressed, out var decoded, out var problem);

        Assert.That(ok, Is.True, problem);
        Assert.That(decoded, Is.EqualTo(hits));
        Assert.That(compressed[5], Is.EqualTo((byte)SpoolCodec.Brotli));
        Assert.That(compressed.Length, Is.LessThan(raw.Length / 4), $"raw {raw.Length} bytes, Brotli {compressed.Length}");
    }

    [Test]
    public void Decode_EveryTruncation_Fails([Values] bool brotli)
    {
        var codec = brotli ? SpoolCodec.Brotli : SpoolCodec.None;
        var file = SpoolFormat.Encode(Mixed(), codec);

        for (var length = 0; length < file.Length; length++)
        {
            var ok = SpoolFormat.TryDecode(file.AsSpan(0, length), out var hits, out var problem);

            Assert.That(ok, Is.False, $"a file cut to {length} of {file.Length} bytes was accepted");
            Assert.That(hits, Is.Empty);
            Assert.That(problem, Is.Not.Empty);
        }
    }

    [Test]
    public void Decode_AnyFlippedBit_Fails([Values] bool brotli)
    {
        var codec = brotli ? SpoolCodec.Brotli : SpoolCodec.None;
        var file = SpoolFormat.Encode(Mixed(), codec);

        for (var i = 0; i < file.Length * 8; i++)
        {
            var copy = (byte[])file.Clone();
            copy[i / 8] ^= (byte)(1 << (i % 8));

            var ok = SpoolFormat.TryDecode(copy, out _, out _);

            Assert.That(ok, Is.False, $"a flipped bit {i % 8} in byte {i / 8} was not detected");
        }
    }

    [Test]
    public void Decode_ExtraByteAtEnd_Fails()
    {
        var file = SpoolFormat.Encode(Mixed(), SpoolCodec.Brotli);

        var ok = SpoolFormat.TryDecode([.. file, 0], out _, out var problem);

        Assert.That(ok, Is.False);
        Assert.That(problem, Does.Contain("truncated or extended"));
    }

    [Test]
    public void Decode_Garbage_Fails()
    {
        var random = new Random(14);
        for (var i = 0; i < 200; i++)
        {
            var garbage = new byte[random.Next(0, 4096)];
            random.NextBytes(garbage);
            if (i % 2 == 0 && garbage.Length >= 4)
            {
                "MRSP"u8.CopyTo(garbage);
            }

            var ok = SpoolFormat.TryDecode(garbage, out _, out _);

            Assert.That(ok, Is.False);
        }
    }

    [Test]
    public void Decode_TextFileWithTheRightName_Fails()
    {
        var text = Encoding.UTF8.GetBytes("?idsite=1&rec=1\n?idsite=1&rec=1\n");

        var ok = SpoolFormat.TryDecode(text, out _, out var problem);

        Assert.That(ok, Is.False);
        Assert.That(problem, Does.Contain("magic"));
    }

    [Test]
    public void Decode_QueryWithoutQuestionMark_Fails()
    {
        var file = SpoolFormat.Encode([new SpooledHit("idsite=1&rec=1", SpoolHits.Start)], SpoolCodec.None);

        var ok = SpoolFormat.TryDecode(file, out _, out var problem);

        Assert.That(ok, Is.False, "Matomo silently drops a bulk entry without '?' and shifts the answer's indices");
        Assert.That(problem, Does.Contain("'?'"));
    }

    [Test]
    public void Encode_MoreHitsThanAFileHolds_Throws()
    {
        var hits = SpoolHits.Range(0, SpoolFormat.MaxHitsPerFile + 1);

        Assert.That(() => SpoolFormat.Encode(hits, SpoolCodec.Brotli), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}
