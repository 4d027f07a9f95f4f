using System.Globalization;
using System.Net;
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
/// The durable spool (issue 14) on this machine's disk: writing a batch of 100 encoded hits as one file (encode,
/// write to a temporary name, fsync, rename; in steady state each write also drops the oldest file, as during a long
/// outage with a full spool) and reading one back (read, checksums, decompress, parse). Times are per hit
/// (OperationsPerInvoke = 100), so hits/s = 1 s / Mean. The Bytes/hit column is the file size on disk per hit.
/// Hits are real encoder output: 5 methods, 50 callers, a token with cip, outcomes and durations varying.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Columns))]
public class SpoolBenchmarks
{
    public const int BatchSize = 100;

    private SpooledHit[][] _batches = null!;
    private SpoolStore _writeStore = null!;
    private SpoolStore _readStore = null!;
    private string _root = null!;
    private int _next;

    /// <summary>Brotli (the default) or the records as they are.</summary>
    [Params(true, false)]
    public bool Compressed { get; set; }

    public const int OpenFiles = 1000;

    [GlobalSetup(Targets = [nameof(Write), nameof(Read), nameof(Encode)])]
    public void Setup()
    {
        _batches = Batches(10);
        _root = Path.Combine(Path.GetTempPath(), "matomo-rpc-spool-bench-" + Guid.NewGuid().ToString("N"));
        var codec = Compressed ? SpoolCodec.Brotli : SpoolCodec.None;
        var fileSize = SpoolFormat.Encode(_batches[0], codec).Length;
        _writeStore = SpoolStore.Open(new SpoolSettings(Path.Combine(_root, "write"), fileSize * 50L, codec), NullLogger.Instance);
        _readStore = SpoolStore.Open(new SpoolSettings(Path.Combine(_root, "read"), long.MaxValue, codec), NullLogger.Instance);
        foreach (var batch in _batches)
        {
            _readStore.Write(batch);
        }
    }

    [GlobalSetup(Target = nameof(Open))]
    public void SetupOpen()
    {
        _batches = Batches(10);
        _root = Path.Combine(Path.GetTempPath(), "matomo-rpc-spool-bench-" + Guid.NewGuid().ToString("N"));
        using var store = SpoolStore.Open(new SpoolSettings(Path.Combine(_root, "open"), long.MaxValue, Compressed ? SpoolCodec.Brotli : SpoolCodec.None), NullLogger.Instance);
        for (var i = 0; i < OpenFiles; i++)
        {
            store.Write(_batches[i % _batches.Length]);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _writeStore?.Dispose();
        _readStore?.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = BatchSize, Description = "Spool write: 100-hit batch, fsync + rename (per hit)")]
    public bool Write()
    {
        var result = _writeStore.Write(_batches[_next++ % _batches.Length]);
        return result == SpoolWriteResult.Written ? true : throw new InvalidOperationException("spool write " + result);
    }

    [Benchmark(OperationsPerInvoke = BatchSize, Description = "Spool read: 100-hit file, verify + decode (per hit)")]
    public int Read()
    {
        var batch = _readStore.TryReadOldest() ?? throw new InvalidOperationException("nothing to read");
        _readStore.Release(batch);
        return batch.Hits.Count;
    }

    [Benchmark(OperationsPerInvoke = OpenFiles, Description = "Spool open: lock, probe, index 1000 files (per file)")]
    public int Open()
    {
        using var store = SpoolStore.Open(new SpoolSettings(Path.Combine(_root, "open"), long.MaxValue), NullLogger.Instance);
        return store.Statistics.Files == OpenFiles ? OpenFiles : throw new InvalidOperationException("files missing");
    }

    [Benchmark(OperationsPerInvoke = BatchSize, Description = "Spool encode only: 100 hits (per hit)")]
    public int Encode() => SpoolFormat.Encode(_batches[_next++ % _batches.Length], Compressed ? SpoolCodec.Brotli : SpoolCodec.None).Length;

    /// <summary><paramref name="count"/> batches of real encoder output.</summary>
    internal static SpooledHit[][] Batches(int count)
    {
        using var tracker = new BenchmarkTracker(o =>
        {
            o.TokenAuth = "0123456789abcdef0123456789abcdef";
            o.AllowTokenOverHttp = true;
            o.IpMaskBytes = 1;
        });
        var encoder = new HitEncoder(tracker.Tracker.Options, new VisitorIdGenerator("salt"), new TrackingState(), NullLogger.Instance);
        string[] methods = ["greet.Greeter/SayHello", "greet.Greeter/SayHellos", "greet.Greeter/Chat", "greet.Greeter/Upload", "billing.Invoices/Get"];
        string[] outcomes = ["OK", "OK", "OK", "OK", "NotFound", "Unavailable"];
        var random = new Random(14);
        var batches = new SpooledHit[count][];
        for (var b = 0; b < count; b++)
        {
            batches[b] = new SpooledHit[BatchSize];
            for (var i = 0; i < BatchSize; i++)
            {
                var caller = random.Next(50);
                var call = tracker.Tracker.StartCall(methods[random.Next(methods.Length)], MatomoCallKind.Unary)!;
                call.SetCaller(new MatomoCallerInfo
                {
                    RemoteAddress = IPAddress.Parse("203.0.113." + caller.ToString(CultureInfo.InvariantCulture)),
                    UserAgent = "grpc-dotnet/2.80.0 (.NET 10.0.0; CLR 10.0.0; net10.0; linux; x64)",
                    Language = "en-US,en;q=0.9",
                    Host = "api.example.org",
                    Scheme = "https",
                });
                call.Call.SetVar("pf_srv", random.Next(1, 500).ToString(CultureInfo.InvariantCulture));
                var outcome = outcomes[random.Next(outcomes.Length)];
                call.Complete(new MatomoOutcome(outcome, outcome == "OK" ? 0 : 5, IsError: outcome == "Unavailable"));
                var hit = tracker.Queue.Reader.TryRead(out var h) ? h : throw new InvalidOperationException("the hit was not queued");
                batches[b][i] = new SpooledHit(encoder.Encode(hit), hit.Timestamp, caller.ToString(CultureInfo.InvariantCulture), hit.Action);
            }
        }

        return batches;
    }

    private sealed class Columns : ManualConfig
    {
        public Columns() => AddColumn(new BytesPerHitColumn());
    }

    /// <summary>Size on disk of a 100-hit spool file, per hit, for the benchmark's codec.</summary>
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

        public string Legend => "Size of the spool file on disk per hit (100-hit files; the query alone is the Query/hit figure in the log)";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var compressed = (bool)benchmarkCase.Parameters[nameof(Compressed)];
            lock (_values)
            {
                if (!_values.TryGetValue(compressed, out var value))
                {
                    var batches = Batches(10);
                    var bytes = batches.Sum(b => (long)SpoolFormat.Encode(b, compressed ? SpoolCodec.Brotli : SpoolCodec.None).Length);
                    var query = batches.Sum(b => b.Sum(h => (long)h.Query.Length));
                    var hits = batches.Length * BatchSize;
                    value = string.Create(CultureInfo.InvariantCulture, $"{(double)bytes / hits:F0} (query {(double)query / hits:F0})");
                    _values[compressed] = value;
                }

                return value;
            }
        }

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }
}
