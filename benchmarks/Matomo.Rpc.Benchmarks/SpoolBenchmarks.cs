using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Matomo.Rpc.Internal;
using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.Logging.Abstractions;

namespace Matomo.Rpc.Benchmarks;

/// <summary>
/// The durable spool (issue 14) on this machine's disk, per hit (OperationsPerInvoke = hits per file, so hits/s =
/// 1 s / Mean), with the sender's 1,000-hit files:
/// <list type="bullet">
/// <item>Spill, encode: the spill path's CPU before the disk: each hit encoded (HitEncoder, <c>cdt</c> stamped) straight
/// into the spool's records.</item>
/// <item>Spill, encode + file: the same plus the file's bytes (Brotli or none, CRC-32C), no disk.</item>
/// <item>Spill, as before: what the spill path did until this change, for comparison: each hit encoded into a batch
/// buffer, a PendingHit and a string per hit, a SpooledHit list, then the file from the strings.</item>
/// <item>Spill to disk: encode + file + write to a temporary name, fsync, rename (HitSpool.Keep; in steady state each
/// write also drops the oldest file, as during a long outage with a full spool).</item>
/// <item>Replay: the oldest file read back as a batch ready to send (HitSpool.TakeOldest: read, checksums, decompress,
/// parse, a PendingHit per hit over the batch's buffer), then given back.</item>
/// </list>
/// The Bytes/hit column is the file size on disk per hit for the codec. Hits are real encoder output: 5 methods, 50
/// callers, a token with cip, outcomes and durations varying.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Columns))]
public class SpoolBenchmarks
{
    /// <summary>Hits per file, as the sender writes them during an outage.</summary>
    public const int FileHits = 1000;

    public const int OpenFiles = 1000;

    private BenchmarkTracker _tracker = null!;
    private HitEncoder _encoder = null!;
    private MatomoHit[] _hits = null!;
    private HitSpool _writeSpool = null!;
    private HitSpool _readSpool = null!;
    private string _root = null!;
    private int _next;

    /// <summary>Brotli (the default) or the records as they are.</summary>
    [Params(true, false)]
    public bool Compressed { get; set; }

    private SpoolCodec Codec => Compressed ? SpoolCodec.Brotli : SpoolCodec.None;

    [GlobalSetup(Targets = [nameof(Encode), nameof(EncodeFile), nameof(EncodeAsBefore), nameof(Spill), nameof(Replay)])]
    public void Setup()
    {
        (_tracker, _encoder, _hits) = Hits(4 * FileHits);
        _root = Path.Combine(Path.GetTempPath(), "matomo-rpc-spool-bench-" + Guid.NewGuid().ToString("N"));
        using (var records = EncodeRecords(0))
        {
            var file = SpoolFormat.Encode(records, 0, FileHits, Codec, out var length);
            ArrayPool<byte>.Shared.Return(file);
            _writeSpool = Spool(Path.Combine(_root, "write"), length * 50L);
        }

        _readSpool = Spool(Path.Combine(_root, "read"), long.MaxValue);
        for (var i = 0; i < 4; i++)
        {
            using var records = EncodeRecords(i);
            _readSpool.Keep(records, out _);
        }
    }

    [GlobalSetup(Target = nameof(Open))]
    public void SetupOpen()
    {
        (_tracker, _encoder, _hits) = Hits(FileHits);
        _root = Path.Combine(Path.GetTempPath(), "matomo-rpc-spool-bench-" + Guid.NewGuid().ToString("N"));
        using var store = SpoolStore.Open(new SpoolSettings(Path.Combine(_root, "open"), long.MaxValue, Codec), NullLogger.Instance);
        using var records = EncodeRecords(0);
        for (var i = 0; i < OpenFiles; i++)
        {
            store.Write(records, (i * 100) % FileHits, 100);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _writeSpool?.Dispose();
        _readSpool?.Dispose();
        _tracker.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = FileHits, Description = "Spill, encode: hits into records (per hit)")]
    public int Encode()
    {
        using var records = EncodeRecords(_next++);
        return records.Count;
    }

    [Benchmark(OperationsPerInvoke = FileHits, Description = "Spill, encode + file bytes, no disk (per hit)")]
    public int EncodeFile()
    {
        using var records = EncodeRecords(_next++);
        var file = SpoolFormat.Encode(records, 0, records.Count, Codec, out var length);
        ArrayPool<byte>.Shared.Return(file);
        return length;
    }

    [Benchmark(OperationsPerInvoke = FileHits, Description = "Spill as before: a string per hit, no disk (per hit)")]
    public int EncodeAsBefore()
    {
        // The old spill path's steps: Prepare (batch buffer + PendingHit), ToSpooled (a string per hit), the file.
        using var buffer = new HitBuffer();
        var pending = new List<PendingHit>();
        var first = (_next++ % 4) * FileHits;
        for (var i = 0; i < FileHits; i++)
        {
            var offset = buffer.Written;
            var length = _encoder.Encode(_hits[first + i], buffer);
            pending.Add(new PendingHit(_hits[first + i], buffer, offset, length));
        }

        var spooled = new List<SpooledHit>(FileHits);
        foreach (var hit in pending)
        {
            spooled.Add(new SpooledHit(hit.Query, hit.Timestamp, string.Empty, hit.Action, hit.IsCrash));
        }

        return SpoolFormat.Encode(spooled, Codec).Length;
    }

    [Benchmark(OperationsPerInvoke = FileHits, Description = "Spill to disk: encode + file + fsync + rename (per hit)")]
    public int Spill()
    {
        using var records = EncodeRecords(_next++);
        return _writeSpool.Keep(records, out _) == FileHits ? FileHits : throw new InvalidOperationException("not kept");
    }

    [Benchmark(OperationsPerInvoke = FileHits, Description = "Replay: file to batch, verify + decode (per hit)")]
    public int Replay()
    {
        using var batch = _readSpool.TakeOldest() ?? throw new InvalidOperationException("nothing to read");
        var rest = batch.TakeRest();
        _readSpool.GiveBack(batch.FromSpool!, rest);
        return rest.Count;
    }

    [Benchmark(OperationsPerInvoke = OpenFiles, Description = "Spool open: lock, probe, index 1000 files (per file)")]
    public int Open()
    {
        using var store = SpoolStore.Open(new SpoolSettings(Path.Combine(_root, "open"), long.MaxValue), NullLogger.Instance);
        return store.Statistics.Files == OpenFiles ? OpenFiles : throw new InvalidOperationException("files missing");
    }

    /// <summary><paramref name="count"/> hits of tracked calls, as the queue holds them, and the encoder the sender would use.</summary>
    internal static (BenchmarkTracker Tracker, HitEncoder Encoder, MatomoHit[] Hits) Hits(int count)
    {
        var tracker = new BenchmarkTracker(o =>
        {
            o.TokenAuth = "0123456789abcdef0123456789abcdef";
            o.AllowTokenOverHttp = true;
            o.IpMaskBytes = 1;
            o.Sending.QueueCapacity = Math.Max(count, 10_000);
        });
        var encoder = new HitEncoder(tracker.Tracker.Options, new VisitorIdGenerator("salt"), new TrackingState(), NullLogger.Instance);
        string[] methods = ["greet.Greeter/SayHello", "greet.Greeter/SayHellos", "greet.Greeter/Chat", "greet.Greeter/Upload", "billing.Invoices/Get"];
        string[] outcomes = ["OK", "OK", "OK", "OK", "NotFound", "Unavailable"];
        var random = new Random(14);
        var hits = new MatomoHit[count];
        for (var i = 0; i < count; i++)
        {
            var caller = random.Next(50);
            var call = tracker.Tracker.StartCall(methods[random.Next(methods.Length)], MatomoCallKind.Unary)!;
            call.SetCaller(new MatomoCallerInfo
            {
                RemoteAddress = IPAddress.Parse("203.0.113." + caller.ToString(CultureInfo.InvariantCulture)),
                UserAgent = BenchmarkTracker.GrpcUserAgent,
                Language = "en-US,en;q=0.9",
                Host = "api.example.org",
                Scheme = "https",
            });
            call.Call.SetVar("pf_srv", random.Next(1, 500).ToString(CultureInfo.InvariantCulture));
            var outcome = outcomes[random.Next(outcomes.Length)];
            call.Complete(new MatomoOutcome(outcome, outcome == "OK" ? 0 : 5, IsError: outcome == "Unavailable"));
            hits[i] = tracker.Queue.TryRead(out var h) ? h : throw new InvalidOperationException("the hit was not queued");
        }

        return (tracker, encoder, hits);
    }

    /// <summary>The sender's spill step for one file's worth of hits: each encoded straight into the records.</summary>
    private SpoolRecords EncodeRecords(int file)
    {
        var records = new SpoolRecords(FileHits * 512);
        var first = (file % 4) * FileHits;
        for (var i = 0; i < FileHits; i++)
        {
            var hit = _hits[first + i];
            var start = records.Begin(hit.Timestamp, hit.Action, isolated: false);
            _encoder.Encode(hit, records.Buffer);
            records.End(start);
        }

        return records;
    }

    private HitSpool Spool(string directory, long maxBytes)
    {
        var spool = new HitSpool(new SpoolSettings(directory, maxBytes, Codec), 100, NullLogger.Instance, TimeProvider.System, null, _tracker.Queue.Metrics);
        spool.Open();
        return spool;
    }

    private sealed class Columns : ManualConfig
    {
        public Columns() => AddColumn(new BytesPerHitColumn());
    }

    /// <summary>Size of a 1,000-hit spool file on disk, per hit, for the benchmark's codec (and the query alone).</summary>
    private sealed class BytesPerHitColumn : IColumn
    {
        private readonly Dictionary<bool, string> _values = [];

        public string Id => nameof(BytesPerHitColumn);

        public string ColumnName => "Bytes/hit";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Size;

        public string Legend => "Size of a 1,000-hit spool file on disk per hit (in brackets: the encoded query alone)";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var compressed = (bool)benchmarkCase.Parameters[nameof(Compressed)];
            var codec = compressed ? SpoolCodec.Brotli : SpoolCodec.None;
            lock (_values)
            {
                if (!_values.TryGetValue(compressed, out var value))
                {
                    var (tracker, encoder, hits) = Hits(4 * FileHits);
                    using (tracker)
                    {
                        long bytes = 0, query = 0;
                        for (var f = 0; f < 4; f++)
                        {
                            using var records = new SpoolRecords(FileHits * 512);
                            for (var i = 0; i < FileHits; i++)
                            {
                                var hit = hits[(f * FileHits) + i];
                                query += Encoding.UTF8.GetByteCount(encoder.Encode(hit));
                                var start = records.Begin(hit.Timestamp, hit.Action, isolated: false);
                                encoder.Encode(hit, records.Buffer);
                                records.End(start);
                            }

                            var file = SpoolFormat.Encode(records, 0, FileHits, codec, out var length);
                            ArrayPool<byte>.Shared.Return(file);
                            bytes += length;
                        }

                        value = string.Create(CultureInfo.InvariantCulture, $"{bytes / (4.0 * FileHits):F1} (query {query / (4.0 * FileHits):F0})");
                    }

                    _values[compressed] = value;
                }

                return value;
            }
        }

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }
}
