using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Matomo.Rpc.Internal;
using Matomo.Rpc.Shared.Tests.Oracle;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// The UTF-8 send path (HitEncoder into a HitBuffer, BulkBodyWriter) against the string encoder it replaced
/// (<see cref="StringHitEncoder"/>, kept as the oracle, changed only with the wire format): the bytes sent must be the
/// oracle's query, byte for byte, for any input, hostile input included.
/// </summary>
[TestFixture]
public class Utf8SendPathTests
{
    private static readonly string[] Pieces =
    [
        "a", "Z", "0", "-", "_", ".", "~", " ", "&", "=", "+", "%", "#", "?", "/", ":", ";", ",", "\"", "\\", "<", ">", "'",
        "\0", "\u0001", "\n", "\r", "\t", "\u001f", "\u007f", "\u0080", "\u00a0", "é", "ß", "中", "\u2028", "\ufeff", "\uffff",
        "\U0001F600", "\U0010FFFF", "\uD800", "\uDBFF", "\uDC00", "\uDFFF", "\uDC00\uD800", "abcdefghij", "%41",
    ];

    private static readonly Action<MatomoOptions>[] OptionSets =
    [
        _ => { },
        o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.TokenAuth = "0123456789abcdef0123456789abcdef";
            o.IpMaskBytes = 2;
            o.Recording = MatomoRecording.Both;
            o.Dimensions.Outcome = 1;
            o.Dimensions.CallKind = 2;
            o.Dimensions.Messages = 3;
            o.Dimensions.Error = 4;
            o.Dimensions.Transport = 5;
            o.SendGenerationTime = true;
            o.TrackCrashes = true;
        },
        o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.UserId;
            o.AssumeHttps = false;
            o.TrackBots = false;
            o.CustomVariableSlots = 2;
            o.TokenAuth = "0123456789abcdef0123456789abcdef";
            o.IpMaskBytes = 3;
        },
        o =>
        {
            o.BaseUrl = "https://base.example/ü/";
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Outcome = 7;
            o.Dimensions.Messages = 8;
        },
    ];

    [Test]
    public void Encode_RandomHostileHits_BytesEqualTheStringEncoders([Range(0, 3)] int optionSet)
    {
        using var harness = new TrackerHarness(OptionSets[optionSet]);
        var (encoder, oracle) = Encoders(harness);
        var random = new Random(1300 + optionSet);
        using var buffer = new HitBuffer(64);

        for (var i = 0; i < 400; i++)
        {
            var hit = RandomHit(harness, random);

            AssertSame(encoder, oracle, buffer, hit, $"hit {i}");
        }
    }

    [Test]
    public void Encode_OneMegabyteValues_ClippedAtMatomoLimitsLikeTheStringEncoder()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.Both;
            o.Dimensions.Outcome = 1;
            o.Dimensions.Error = 2;
            o.VisitorIdentity = MatomoVisitorIdentity.UserId;
            o.AssumeHttps = false;
        });
        var (encoder, oracle) = Encoders(harness);
        using var buffer = new HitBuffer();

        // A surrogate pair straddles every limit (200, 250, 1024) and the 256-character chunks of the escaper.
        var huge = string.Concat(Enumerable.Repeat("é\U0001F600a", 350_000));
        var hit = harness.Hit(
            caller: new MatomoCallerInfo { UserAgent = huge, Language = huge, Referrer = huge, Host = huge, UserId = huge, Scheme = "http" },
            during: call =>
            {
                call.SetVar("e_n", huge);
                call.SetVar("dimension9", huge);
                call.AddCustomVariable(huge, huge);
            },
            outcome: new MatomoOutcome(huge, 3, IsError: true),
            exception: new InvalidOperationException(huge));

        var length = AssertSame(encoder, oracle, buffer, hit, "1 MB values");

        Assert.That(length, Is.LessThan(64 * 1024), "every value was clipped");
    }

    [TestCaseSource(nameof(Pieces))]
    public void Encode_HostileCharacterInEveryCallerField_BytesEqualTheStringEncoder(string piece)
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.Hashed);
        var (encoder, oracle) = Encoders(harness);
        using var buffer = new HitBuffer();
        var value = "x" + piece + "y" + piece;

        var hit = harness.Hit(
            caller: new MatomoCallerInfo { UserAgent = value, Language = value, Referrer = value, Host = value, Scheme = "https" },
            during: call =>
            {
                call.SetVar("e_c", value);
                call.SetVar("e_a", value);
                call.AddCustomVariable(value, value);
            });

        AssertSame(encoder, oracle, buffer, hit, piece);
    }

    [Test]
    public void Encode_MoreDistinctCallersThanTheCachesHold_BytesEqualTheStringEncoder()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.Hashed);
        var (encoder, oracle) = Encoders(harness);
        using var buffer = new HitBuffer();

        for (var i = 0; i < 2_500; i++)
        {
            var caller = new MatomoCallerInfo
            {
                UserAgent = "agent/" + (i % 1_300),
                Language = "l" + (i % 1_100),
                Host = "h" + (i % 1_050),
                RemoteAddress = new IPAddress(i % 1_200),
            };
            var hit = harness.Hit(action: "svc/M" + (i % 7), caller: caller);

            AssertSame(encoder, oracle, buffer, hit, $"caller {i}");
        }
    }

    [Test]
    public void Write_EncodedAndStringHits_SameBodyAsUtf8JsonWriterWithTheRelaxedEncoder()
    {
        using var harness = new TrackerHarness();
        var encoder = harness.Encoder();
        using var buffer = new HitBuffer();
        var hit = harness.Hit(during: call => call.SetVar("e_n", "\"quoted\" \\ é \uD800 \n"));
        var offset = buffer.Written;
        var length = encoder.Encode(hit, buffer);
        List<PendingHit> hits =
        [
            new(hit, buffer, offset, length),
            new(hit, "?idsite=1&rec=1&e_n=plain"),
            new(hit, "?e_n=\"quote\\back\u0001ctl é \U0001F600 <&+>"),
            new(hit, buffer, offset, length),
        ];
        const string token = "tok\"en\\é\u0002<&>";

        var body = new ArrayBufferWriter<byte>();
        new BulkBodyWriter(token).Write(body, hits);

        Assert.That(Encoding.UTF8.GetString(body.WrittenSpan), Is.EqualTo(Encoding.UTF8.GetString(ReferenceBody(hits, token))));
        Assert.That(body.WrittenSpan.SequenceEqual(ReferenceBody(hits, token)), Is.True);
    }

    [Test]
    public void Write_NoToken_NoTokenMember()
    {
        using var harness = new TrackerHarness();
        var hit = harness.Hit();
        List<PendingHit> hits = [new(hit, "?a=1"), new(hit, "?b=2")];

        var body = new ArrayBufferWriter<byte>();
        new BulkBodyWriter(null).Write(body, hits);

        Assert.That(Encoding.UTF8.GetString(body.WrittenSpan), Is.EqualTo("{\"requests\":[\"?a=1\",\"?b=2\"]}"));
    }

    [Test]
    public void Query_BatchDone_ReadingTheBytesThrowsInsteadOfReadingAnotherBatch()
    {
        using var harness = new TrackerHarness();
        var buffer = new HitBuffer();
        var hit = harness.Hit();
        var length = harness.Encoder().Encode(hit, buffer);
        var pending = new PendingHit(hit, buffer, 0, length);
        var batch = new Batch([pending], [], buffer: buffer);

        batch.Dispose();

        Assert.That(() => pending.Query, Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public void Query_ReadBeforeTheBatchIsDone_KeptAfterwards()
    {
        using var harness = new TrackerHarness();
        var buffer = new HitBuffer();
        var hit = harness.Hit();
        var length = harness.Encoder().Encode(hit, buffer);
        var pending = new PendingHit(hit, buffer, 0, length);
        var query = pending.Query;

        new Batch([pending], [], buffer: buffer).Dispose();

        Assert.That(pending.Query, Is.SameAs(query));
        Assert.That(query, Does.StartWith("?idsite=1&rec=1&"));
    }

    [Test]
    public void Encode_ManyHitsIntoOneBuffer_EachHitsBytesStayItsOwnAcrossGrowth()
    {
        using var harness = new TrackerHarness();
        var encoder = harness.Encoder();
        using var buffer = new HitBuffer(16);
        var expected = new List<string>();
        var pending = new List<PendingHit>();

        for (var i = 0; i < 300; i++)
        {
            var hit = harness.Hit(action: "svc/M" + i);
            var offset = buffer.Written;
            var length = encoder.Encode(hit, buffer);
            pending.Add(new PendingHit(hit, buffer, offset, length));
            expected.Add(encoder.Encode(hit));
        }

        Assert.That(pending.Select(p => p.Query), Is.EqualTo(expected));
    }

    // The encoder finds a caller's and an action's bytes by the references of their strings (CallerFragments,
    // ActionFragments) and keeps the last built-in cvar and outcome text: the tests below reuse the same objects across
    // what must change the bytes, so that a stale fast path shows as a difference from the oracle.

    [Test]
    public void Encode_SameCallerObjectsAcrossMidnight_VisitorIdOfEachHitsDayLikeTheStringEncoder()
    {
        using var harness = new TrackerHarness(
            o => o.VisitorIdentity = MatomoVisitorIdentity.Hashed,
            new FakeTimeProvider(new DateTimeOffset(2026, 1, 2, 23, 59, 59, TimeSpan.Zero)));
        var (encoder, oracle) = Encoders(harness);
        using var buffer = new HitBuffer();
        var caller = new MatomoCallerInfo { RemoteAddress = IPAddress.Parse("203.0.113.7"), UserAgent = "agent/1", Language = "de", Host = "h" };
        var before = harness.Hit(caller: caller, duration: TimeSpan.FromMilliseconds(200));
        var after = harness.Hit(caller: caller, duration: TimeSpan.FromSeconds(1));

        // Out of order too: a hit of the day before, encoded after one of the new day.
        foreach (var (hit, what) in new[] { (before, "day 1"), (after, "day 2"), (before, "day 1 again"), (after, "day 2 again") })
        {
            AssertSame(encoder, oracle, buffer, hit, what);
        }

        Assert.That(Cid(encoder.Encode(after)), Is.Not.EqualTo(Cid(encoder.Encode(before))), "the visitor id changes with the day");
    }

    [Test]
    public void Encode_CallersSharingAllButOneFieldsObjects_EachCallersOwnBytesLikeTheStringEncoder()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.TokenAuth = "0123456789abcdef0123456789abcdef";
        });
        var (encoder, oracle) = Encoders(harness);
        using var buffer = new HitBuffer();
        var agent = "grpc-dotnet/2.80.0 (.NET 10.0.0; linux; x64)";
        var language = "en-US";
        var address = IPAddress.Parse("203.0.113.1");

        // Groups of 1,000 callers that differ in one field only (about as many as the slots: callers of a group share slots).
        var callers = Enumerable.Range(0, 1_000).SelectMany(i => new MatomoCallerInfo[]
        {
            new() { UserAgent = agent, Language = language, RemoteAddress = new IPAddress(0x0100000A + (i << 8)) },
            new() { UserAgent = agent, Language = language, RemoteAddress = address, VisitorKey = "key-" + i },
            new() { UserAgent = agent, Language = "l" + i, RemoteAddress = address },
            new() { UserAgent = "agent/" + i, Language = language, RemoteAddress = address },
        }).ToArray();
        var cids = new HashSet<string>();

        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < callers.Length; i++)
            {
                var hit = harness.Hit(caller: callers[i]);

                AssertSame(encoder, oracle, buffer, hit, $"round {round}, caller {i}");
                cids.Add(Cid(encoder.Encode(hit)));
            }
        }

        // The language is not part of the visitor id: the callers that differ only in it are one visitor.
        Assert.That(cids, Has.Count.EqualTo(3_001), "every other caller is its own visitor");
    }

    [Test]
    public void Encode_AddressObjectChangedInPlace_BytesOfItsNewValueLikeTheStringEncoder()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.TokenAuth = "0123456789abcdef0123456789abcdef";
        });
        var (encoder, oracle) = Encoders(harness);
        using var buffer = new HitBuffer();
        var address = IPAddress.Parse("fe80::1%1");
        var caller = new MatomoCallerInfo { UserAgent = "agent", RemoteAddress = address };
        var first = harness.Hit(caller: caller);
        var firstQuery = encoder.Encode(first);

        address.ScopeId = 2;
        var second = harness.Hit(caller: caller);

        AssertSame(encoder, oracle, buffer, second, "scope 2");
        Assert.That(encoder.Encode(second), Does.Contain("cip=fe80::1%252"));
        Assert.That(Cid(encoder.Encode(second)), Is.Not.EqualTo(Cid(firstQuery)));
    }

    [Test]
    public void Encode_MoreActionsThanSlotsAndCachesHold_EachActionsOwnUrlAndNameLikeTheStringEncoder()
    {
        using var harness = new TrackerHarness();
        var (encoder, oracle) = Encoders(harness);
        using var buffer = new HitBuffer();
        var caller = TrackerHarness.DefaultCaller;

        // More than the 1,024 slots and the 4,096 entries of the value-keyed caches; then the first ones again, whose slots
        // and cache entries were taken by others in between.
        for (var i = 0; i < 4_200; i++)
        {
            AssertSame(encoder, oracle, buffer, harness.Hit(action: "svc/A" + i, caller: caller), $"action {i}");
        }

        for (var i = 0; i < 200; i++)
        {
            AssertSame(encoder, oracle, buffer, harness.Hit(action: "svc/A" + i, caller: caller), $"action {i} again");
        }
    }

    [Test]
    public void Encode_OneActionUnderManyPathsAndHosts_EachHitsOwnUrlLikeTheStringEncoder()
    {
        using var harness = new TrackerHarness();
        var (encoder, oracle) = Encoders(harness);
        using var buffer = new HitBuffer();
        var paths = Enumerable.Range(0, 1_000).Select(i => "/items/" + i).ToArray();
        var hosts = Enumerable.Range(0, 1_000).Select(i => "h" + i).ToArray();

        // The same action name object with other paths, then with other hosts (the HTTP adapter's case).
        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < paths.Length; i++)
            {
                AssertSame(encoder, oracle, buffer, HitAt(harness, paths[i], "api.example.org"), $"path {i}");
                AssertSame(encoder, oracle, buffer, HitAt(harness, "/items", hosts[i]), $"host {i}");
            }
        }
    }

    [Test]
    public void Encode_RecurringCallerObjectsBeyondSlotsAndCaches_BytesEqualTheStringEncoder()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.TokenAuth = "0123456789abcdef0123456789abcdef";
            o.IpMaskBytes = 1;
        });
        var (encoder, oracle) = Encoders(harness);
        using var buffer = new HitBuffer();
        var random = new Random(1313);

        // 1,500 callers (more than the 1,024 slots and the 1,024-entry caches), the same objects coming back in random order.
        var callers = Enumerable.Range(0, 1_500).Select(i => new MatomoCallerInfo
        {
            UserAgent = "agent/" + (i % 1_100),
            Language = "l" + (i % 30),
            RemoteAddress = new IPAddress(0x0100000A + (i << 8)),
            Host = "h" + (i % 3),
        }).ToArray();

        for (var i = 0; i < 6_000; i++)
        {
            AssertSame(encoder, oracle, buffer, harness.Hit(caller: callers[random.Next(callers.Length)]), $"hit {i}");
        }
    }

    [Test]
    public void Encode_AlternatingOutcomesKindsAndSampleRates_EachHitsOwnCvarLikeTheStringEncoder()
    {
        // Every call of the sampled action is kept (the source draws 0), and its hits record the rate.
        using var harness = new TrackerHarness(o => o.Sampling.Actions["svc/Sampled"] = 0.5, samples: new SampleSource(() => 0));
        var (encoder, oracle) = Encoders(harness);
        using var buffer = new HitBuffer();
        const string name = "Status";
        MatomoCallKind[] kinds = [MatomoCallKind.Unary, MatomoCallKind.HubInvocation, MatomoCallKind.Http];

        // One thing changes from a hit to the next, in turn: the sample rate, the outcome (the same name object with
        // another code; more codes than the outcome texts cache holds), the kind.
        var (sampled, code, kind) = (false, 0, 0);
        for (var i = 0; i < 3_300; i++)
        {
            switch (i % 3)
            {
                case 0:
                    sampled = !sampled;
                    break;
                case 1:
                    code++;
                    break;
                default:
                    kind = (kind + 1) % kinds.Length;
                    break;
            }

            var outcome = code % 4 == 0 ? MatomoOutcome.Ok : new MatomoOutcome(name, code);
            var hit = harness.Hit(action: sampled ? "svc/Sampled" : "svc/All", kind: kinds[kind], outcome: outcome);

            AssertSame(encoder, oracle, buffer, hit, $"hit {i}");
        }
    }

    private static MatomoHit HitAt(TrackerHarness harness, string path, string host)
    {
        var scope = harness.Tracker.StartCall("svc/Items", MatomoCallKind.Http, path)!;
        scope.SetCaller(new MatomoCallerInfo { Host = host, Scheme = "https" });
        harness.Time.Advance(TimeSpan.FromMilliseconds(3));
        scope.Complete(MatomoOutcome.Ok);
        return harness.TakeHit();
    }

    private static string Cid(string query) =>
        query.Split('&').Single(p => p.StartsWith("cid=", StringComparison.Ordinal));

    private static (HitEncoder Encoder, StringHitEncoder Oracle) Encoders(TrackerHarness harness) =>
        (new HitEncoder(harness.Options, new VisitorIdGenerator(harness.Options.VisitorIdSalt), harness.CheckState, NullLogger.Instance),
         new StringHitEncoder(harness.Options, new VisitorIdGenerator(harness.Options.VisitorIdSalt), harness.CheckState, NullLogger.Instance));

    private static int AssertSame(HitEncoder encoder, StringHitEncoder oracle, HitBuffer buffer, MatomoHit hit, string what)
    {
        var expected = oracle.Encode(hit);
        var offset = buffer.Written;
        var length = encoder.Encode(hit, buffer);
        var bytes = buffer.Slice(offset, length);

        Assert.That(Encoding.UTF8.GetString(bytes), Is.EqualTo(expected), what);
        Assert.That(bytes.SequenceEqual(Encoding.UTF8.GetBytes(expected)), Is.True, what);
        Assert.That(encoder.Encode(hit), Is.EqualTo(expected), what + " (string path)");
        if (hit.Outcome.IsError && hit.ErrorType is not null)
        {
            offset = buffer.Written;
            length = encoder.EncodeCrash(hit, buffer);
            Assert.That(Encoding.UTF8.GetString(buffer.Slice(offset, length)), Is.EqualTo(oracle.EncodeCrash(hit)), what + " (crash)");
        }

        buffer.Truncate(0);
        return length;
    }

    private static string RandomText(Random random)
    {
        var length = random.Next(10) switch
        {
            0 => 0,
            1 => random.Next(195, 260),
            2 => random.Next(1_015, 1_035),
            3 => random.Next(250, 800),
            _ => random.Next(1, 24),
        };
        var text = new StringBuilder(length + 8);
        while (text.Length < length)
        {
            text.Append(Pieces[random.Next(Pieces.Length)]);
        }

        return text.ToString();
    }

    private static string? Maybe(Random random) => random.Next(4) == 0 ? null : RandomText(random);

    private static MatomoHit RandomHit(TrackerHarness harness, Random random)
    {
        // A few actions, so that the per-action caches are hit again and again; some hostile ones among them.
        var action = random.Next(6) switch
        {
            0 => "greet.Greeter/SayHello",
            1 => "svc/ü ñ?&=",
            2 => "Hub/\uD800lone",
            _ => "svc/M" + random.Next(5),
        };
        var address = random.Next(5) switch
        {
            0 => null,
            1 => IPAddress.Parse("203.0.113." + random.Next(256)),
            2 => IPAddress.Parse("2001:db8::" + random.Next(65536).ToString("x")),
            3 => IPAddress.Parse("::ffff:198.51.100." + random.Next(256)),
            _ => IPAddress.Loopback,
        };
        var caller = new MatomoCallerInfo
        {
            RemoteAddress = address,
            UserAgent = random.Next(3) == 0 ? "grpc-dotnet/2.80.0 (.NET 10.0.0; linux; x64)" : Maybe(random),
            Language = random.Next(3) == 0 ? "en-US,en;q=0.9" : Maybe(random),
            Referrer = Maybe(random),
            Host = random.Next(2) == 0 ? "api.example.org" : Maybe(random),
            Scheme = random.Next(3) switch { 0 => "http", 1 => "https", _ => Maybe(random) },
            UserId = Maybe(random),
            VisitorKey = random.Next(3) == 0 ? Maybe(random) : null,
        };
        string[] names = ["e_c", "e_a", "e_n", "e_v", "dimension3", "dimension12", "url", "action_name", "uid", "_id", "cid", "urlref", "ua", "pf_srv", "gt_ms", "new_visit", "search"];
        var kind = (MatomoCallKind)random.Next(0, 9);
        var outcome = random.Next(4) switch
        {
            0 => MatomoOutcome.Ok,
            1 => new MatomoOutcome("OK", 0),
            2 => new MatomoOutcome(RandomText(random), random.Next(20), IsError: true),
            _ => MatomoOutcome.Error,
        };
        var exception = outcome.IsError && random.Next(2) == 0 ? new InvalidOperationException(Maybe(random)) : null;
        var millis = random.Next(4) == 0 ? random.Next(20_000_000, int.MaxValue) : random.Next(0, 5_000);

        return harness.Hit(
            action: action,
            kind: Enum.IsDefined(kind) ? kind : MatomoCallKind.Unary,
            caller: caller,
            duration: TimeSpan.FromMilliseconds(millis) + TimeSpan.FromTicks(random.Next(10_000)),
            outcome: outcome,
            exception: exception,
            during: call =>
            {
                for (var n = random.Next(5); n > 0; n--)
                {
                    Try(() => call.SetVar(names[random.Next(names.Length)], random.Next(3) == 0 ? "0123456789abcdef" : Maybe(random)));
                }

                for (var n = random.Next(4); n > 0; n--)
                {
                    Try(() => call.AddCustomVariable(RandomText(random) + "n", Maybe(random)));
                }

                if (random.Next(4) == 0)
                {
                    Try(() => call.SetPerf(random.Next(2) == 0 ? "pf_srv" : "pf_dm1", TimeSpan.FromMilliseconds(random.Next(100))));
                }
            },
            adapter: scope =>
            {
                for (var n = random.Next(3); n > 0; n--)
                {
                    scope.CountReceived();
                    scope.CountSent();
                }

                if (random.Next(3) == 0)
                {
                    scope.Transport = Maybe(random);
                }

                if (random.Next(3) == 0)
                {
                    Try(() => scope.SetField(RandomText(random) + "f", Maybe(random)));
                }
            });
    }

    /// <summary>What the per-call API refuses (transport parameters, bad visitor ids) is refused alike for both encoders.</summary>
    private static void Try(Action action)
    {
        try
        {
            action();
        }
        catch (ArgumentException)
        {
        }
    }

    /// <summary>The body as HttpBulkWriter wrote it before the UTF-8 send path: Utf8JsonWriter, relaxed encoder.</summary>
    private static byte[] ReferenceBody(IReadOnlyList<PendingHit> hits, string? token)
    {
        var body = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(body, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("requests");
            foreach (var hit in hits)
            {
                writer.WriteStringValue(hit.Query);
            }

            writer.WriteEndArray();
            if (token is not null)
            {
                writer.WriteString("token_auth", token);
            }

            writer.WriteEndObject();
        }

        return body.WrittenSpan.ToArray();
    }
}
