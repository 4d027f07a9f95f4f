using System.Diagnostics.Metrics;
using System.Runtime.Versioning;
using Matomo.Rpc.Internal.Spool;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>The spool store on real files in a temporary directory.</summary>
[TestFixture]
[Platform(Exclude = "Win", Reason = "Unix file modes, flock(1) and /bin/sh")]
[UnsupportedOSPlatform("windows")]
public class SpoolStoreTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private SpoolDirectory _dir = null!;
    private CapturingLogger _logger = null!;
    private List<(int Count, string Reason)> _drops = null!;
    private List<SpoolStore> _stores = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new SpoolDirectory();
        _logger = new CapturingLogger();
        _drops = [];
        _stores = [];
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }

        _dir.Dispose();
    }

    private SpoolStore Open(long maxBytes = long.MaxValue, string? directory = null, TimeProvider? time = null, SpoolCodec codec = SpoolCodec.Brotli)
    {
        var store = SpoolStore.Open(new SpoolSettings(directory ?? _dir.Spool, maxBytes, codec), _logger, time, countDropped: (n, r) =>
        {
            lock (_drops)
            {
                _drops.Add((n, r));
            }
        });
        _stores.Add(store);
        return store;
    }

    private void Reopen(ref SpoolStore store)
    {
        store.Dispose();
        _stores.Remove(store);
        store = Open();
    }

    private int DroppedFor(string reason) => _drops.Where(d => d.Reason == reason).Sum(d => d.Count);

    private string[] Names(string pattern) => [.. Directory.GetFiles(_dir.Spool, pattern).Select(Path.GetFileName).Order()!];

    private IEnumerable<(string? EventName, LogLevel Level, string Text)> Errors => _logger.Entries.Where(e => e.Level >= LogLevel.Error);

    [Test]
    public void Write_ThenTryReadOldest_ReturnsTheSameHits()
    {
        var store = Open();
        var hits = SpoolHits.Range(0, 100);

        var result = store.Write(hits);
        var batch = store.TryReadOldest();

        Assert.That(result, Is.EqualTo(SpoolWriteResult.Written));
        Assert.That(batch, Is.Not.Null);
        Assert.That(batch!.Hits, Is.EqualTo(hits));
        Assert.That(Names("*.spool"), Has.Length.EqualTo(1));
        Assert.That(Names("*.tmp"), Is.Empty);
    }

    [Test]
    public void Write_SpoolFile_IsReadableOnlyByTheOwner()
    {
        var store = Open();

        store.Write(SpoolHits.Range(0, 3));

        var file = Directory.GetFiles(_dir.Spool, "*.spool").Single();
        Assert.That(File.GetUnixFileMode(file), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        Assert.That(File.GetUnixFileMode(_dir.Spool) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead), Is.EqualTo(UnixFileMode.None));
    }

    [Test]
    public void List_SeveralWrites_OldestFirst()
    {
        var store = Open();
        for (var i = 0; i < 12; i++)
        {
            store.Write(SpoolHits.Range(i * 10, 10));
        }

        var files = store.List();
        var firstHits = files.Select(f => store.TryRead(f)!.Hits[0]).ToList();

        Assert.That(files.Select(f => f.Sequence), Is.Ordered.Ascending);
        Assert.That(firstHits, Is.EqualTo(Enumerable.Range(0, 12).Select(i => SpoolHits.Hit(i * 10))));
    }

    [Test]
    public void Open_AfterRestart_ReplaysOldFilesFirstAndContinuesTheSequence()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 5));
        store.Write(SpoolHits.Range(5, 5));

        Reopen(ref store);
        store.Write(SpoolHits.Range(10, 5));
        var order = new List<SpooledHit>();
        while (store.TryReadOldest() is { } batch)
        {
            order.AddRange(batch.Hits);
            store.Account(batch, batch.Hits.Count);
        }

        Assert.That(order, Is.EqualTo(SpoolHits.Range(0, 15)));
        Assert.That(store.Statistics, Is.EqualTo(new SpoolStatistics(true, 0, 0, 0, 5, 15, 0, 0)));
        Assert.That(_logger.EventNames, Does.Contain("SpoolOpened"));
    }

    [Test]
    public void Open_LeftoverTempFile_IsRemovedAndNeverRead()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 5));
        store.Dispose();
        var half = SpoolFormat.Encode(SpoolHits.Range(100, 5), SpoolCodec.Brotli);
        File.WriteAllBytes(Path.Combine(_dir.Spool, "0000000000000000007.tmp"), half.AsSpan(0, half.Length / 2).ToArray());

        store = Open();
        var batch = store.TryReadOldest();

        Assert.That(Names("*.tmp"), Is.Empty);
        Assert.That(batch!.Hits, Is.EqualTo(SpoolHits.Range(0, 5)));
        Assert.That(store.TryReadOldest(), Is.Null);
        Assert.That(store.Statistics.BadFiles, Is.EqualTo(0));
        Assert.That(_logger.Entries.Last(e => e.EventName == "SpoolOpened").Text, Does.Contain("1 unfinished writes removed"));
        store.Write(SpoolHits.Range(5, 1));
        Assert.That(store.List()[^1].Sequence, Is.GreaterThan(7), "a new file never reuses the sequence of a leftover");
    }

    [Test]
    public void TryRead_FileTruncatedWhileOpen_MovedAsideCountedAndTheRestRead()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 40));
        store.Write(SpoolHits.Range(40, 10));
        var first = store.List()[0];
        using (var stream = new FileStream(first.Path, FileMode.Open))
        {
            stream.SetLength(stream.Length - 7);
        }

        var batch = store.TryReadOldest();

        Assert.That(batch!.Hits, Is.EqualTo(SpoolHits.Range(40, 10)));
        Assert.That(File.Exists(first.Path + ".bad"), Is.True);
        Assert.That(File.Exists(first.Path), Is.False);
        Assert.That(store.Statistics.BadFiles, Is.EqualTo(1));
        Assert.That(DroppedFor(SpoolDropReasons.SpoolCorrupt), Is.EqualTo(40));
        Assert.That(_logger.EventNames.Count(n => n == "SpoolFileCorrupt"), Is.EqualTo(1));
    }

    [Test]
    public void Open_TruncatedAndGarbageFiles_MovedAsideCountedAndTheRestRead()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 10));
        store.Write(SpoolHits.Range(10, 20));
        store.Write(SpoolHits.Range(30, 10));
        var files = store.List();
        store.Dispose();
        using (var stream = new FileStream(files[1].Path, FileMode.Open))
        {
            stream.SetLength(stream.Length / 2);
        }

        var garbage = new byte[3000];
        new Random(14).NextBytes(garbage);
        File.WriteAllBytes(Path.Combine(_dir.Spool, "0000000000000000000.spool"), garbage);
        var flipped = File.ReadAllBytes(files[2].Path);
        flipped[^3] ^= 0x40;
        File.WriteAllBytes(files[2].Path, flipped);

        store = Open();
        var read = new List<SpooledHit>();
        while (store.TryReadOldest() is { } batch)
        {
            read.AddRange(batch.Hits);
            store.Account(batch, batch.Hits.Count);
        }

        Assert.That(read, Is.EqualTo(SpoolHits.Range(0, 10)));
        Assert.That(Names("*.bad"), Has.Length.EqualTo(3));
        Assert.That(Names("*.spool"), Is.Empty);
        Assert.That(store.Statistics.BadFiles, Is.EqualTo(3));
        Assert.That(DroppedFor(SpoolDropReasons.SpoolCorrupt), Is.EqualTo(10), "the truncated and garbage files' headers cannot be believed; the flipped one's can");
        Assert.That(_logger.EventNames.Count(n => n == "SpoolFileCorrupt"), Is.EqualTo(3));
        Assert.That(Errors, Is.Empty);
    }

    [Test]
    public void Write_OverMaxBytes_DropsTheOldestFilesCountsAndWarnsOnce()
    {
        var time = new FakeTimeProvider();
        var fileSize = SpoolFormat.Encode(SpoolHits.Range(0, 50), SpoolCodec.Brotli).Length;
        var store = Open(maxBytes: (fileSize * 3) + (fileSize / 2), time: time);

        for (var i = 0; i < 6; i++)
        {
            Assert.That(store.Write(SpoolHits.Range(i * 50, 50)), Is.EqualTo(SpoolWriteResult.Written));
        }

        var left = store.List().Select(f => store.TryRead(f)!.Hits[0]).ToList();
        Assert.That(left, Is.EqualTo(new[] { SpoolHits.Hit(150), SpoolHits.Hit(200), SpoolHits.Hit(250) }));
        Assert.That(store.Statistics.Bytes, Is.LessThanOrEqualTo((fileSize * 3) + (fileSize / 2)));
        Assert.That(DroppedFor(SpoolDropReasons.SpoolFull), Is.EqualTo(150));
        Assert.That(store.Statistics.HitsDropped, Is.EqualTo(150));
        var warnings = _logger.Entries.Where(e => e.EventName == "SpoolFull").ToList();
        Assert.That(warnings, Has.Count.EqualTo(1), "one warning per minute, not one per file");
        Assert.That(warnings[0].Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(warnings[0].Text, Does.Contain("Matomo:Spool:MaxBytes"));
    }

    [Test]
    public void Write_FullSpoolAfterAMinute_WarnsAgainWithTheCountSinceTheLastWarning()
    {
        var time = new FakeTimeProvider();
        var fileSize = Enumerable.Range(0, 4).Max(i => SpoolFormat.Encode(SpoolHits.Range(i * 10, 10), SpoolCodec.None).Length);
        var store = Open(maxBytes: fileSize + 10, time: time, codec: SpoolCodec.None);
        store.Write(SpoolHits.Range(0, 10));
        store.Write(SpoolHits.Range(10, 10));
        store.Write(SpoolHits.Range(20, 10));

        time.Advance(TimeSpan.FromMinutes(1));
        store.Write(SpoolHits.Range(30, 10));

        var warnings = _logger.Entries.Where(e => e.EventName == "SpoolFull").Select(e => e.Text).ToList();
        Assert.That(warnings, Has.Count.EqualTo(2));
        Assert.That(warnings[0], Does.Contain("dropped 1 files (10 hits)"));
        Assert.That(warnings[1], Does.Contain("dropped 2 files (20 hits)"));
    }

    [Test]
    public void Write_BatchLargerThanMaxBytes_NotKeptAndCounted()
    {
        var store = Open(maxBytes: 100, codec: SpoolCodec.None);
        var small = Open(maxBytes: 100, directory: Path.Combine(_dir.Root, "other"));

        var result = store.Write(SpoolHits.Range(0, 20));

        Assert.That(result, Is.EqualTo(SpoolWriteResult.Full));
        Assert.That(DroppedFor(SpoolDropReasons.SpoolFull), Is.EqualTo(20));
        Assert.That(store.List(), Is.Empty);
        Assert.That(small.Enabled, Is.True);
    }

    [Test]
    public void Write_FullWhileTheOldestIsBeingRead_KeepsTheLeasedFile()
    {
        var fileSize = SpoolFormat.Encode(SpoolHits.Range(0, 10), SpoolCodec.Brotli).Length;
        var store = Open(maxBytes: (fileSize * 2) + 20);
        store.Write(SpoolHits.Range(0, 10));
        store.Write(SpoolHits.Range(10, 10));
        var leased = store.TryReadOldest()!;

        store.Write(SpoolHits.Range(20, 10));
        var deleted = store.Account(leased, 10);

        Assert.That(deleted, Is.True);
        Assert.That(store.TryReadOldest()!.Hits[0], Is.EqualTo(SpoolHits.Hit(20)), "the second file made room, the leased one was not touched");
        Assert.That(DroppedFor(SpoolDropReasons.SpoolFull), Is.EqualTo(10));
    }

    [Test]
    public void Account_EveryHit_DeletesTheFile()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 10));
        var batch = store.TryReadOldest()!;

        var afterSome = store.Account(batch, 4);
        var stillThere = File.Exists(batch.File.Path);
        var afterAll = store.Account(batch, 6);

        Assert.That(afterSome, Is.False);
        Assert.That(stillThere, Is.True);
        Assert.That(afterAll, Is.True);
        Assert.That(File.Exists(batch.File.Path), Is.False);
        Assert.That(store.Statistics, Is.EqualTo(new SpoolStatistics(true, 0, 0, 0, 10, 10, 0, 0)));
        Assert.That(() => store.Account(batch, 1), Throws.InvalidOperationException);
    }

    [Test]
    public void Account_MoreHitsThanTheBatchHas_Throws()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 3));
        var batch = store.TryReadOldest()!;

        Assert.That(() => store.Account(batch, 4), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(File.Exists(batch.File.Path), Is.True);
    }

    [Test]
    public void TryRead_LeasedFile_NotHandedOutTwice()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 3));
        var file = store.List().Single();

        var first = store.TryRead(file);
        var second = store.TryRead(file);

        Assert.That(first, Is.Not.Null);
        Assert.That(second, Is.Null);
        Assert.That(store.List(), Is.Empty);
        Assert.That(store.Statistics.Files, Is.EqualTo(1));
    }

    [Test]
    public void Release_WithoutRemaining_ListsTheFileAgainUnchanged()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 10));
        var batch = store.TryReadOldest()!;

        store.Release(batch);
        var again = store.TryReadOldest();

        Assert.That(again!.Hits, Is.EqualTo(SpoolHits.Range(0, 10)));
    }

    [Test]
    public void Release_WithRemaining_RewritesTheFileWithThoseHitsInPlace()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 10));
        store.Write(SpoolHits.Range(10, 10));
        var batch = store.TryReadOldest()!;
        store.Account(batch, 6);

        store.Release(batch, batch.Hits.Skip(6).ToList());
        Reopen(ref store);
        var first = store.TryReadOldest()!;
        var second = store.TryReadOldest()!;

        Assert.That(first.Hits, Is.EqualTo(SpoolHits.Range(6, 4)));
        Assert.That(first.File.Sequence, Is.EqualTo(batch.File.Sequence), "the rest keeps its place in the order");
        Assert.That(second.Hits, Is.EqualTo(SpoolHits.Range(10, 10)));
        Assert.That(Names("*.tmp"), Is.Empty);
    }

    [Test]
    public void Release_WithNoneRemaining_DeletesTheFile()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 10));
        var batch = store.TryReadOldest()!;

        store.Release(batch, []);

        Assert.That(File.Exists(batch.File.Path), Is.False);
        Assert.That(store.Statistics.Files, Is.EqualTo(0));
    }

    [Test]
    public void Open_DirectoryUnderARegularFile_DisabledWithOneErrorNamingTheSetting()
    {
        var file = Path.Combine(_dir.Root, "not-a-directory");
        File.WriteAllText(file, "x");

        var store = Open(directory: Path.Combine(file, "spool"));
        var first = store.Write(SpoolHits.Range(0, 5));
        var second = store.Write(SpoolHits.Range(5, 5));

        Assert.That(store.Enabled, Is.False);
        Assert.That(first, Is.EqualTo(SpoolWriteResult.Disabled));
        Assert.That(second, Is.EqualTo(SpoolWriteResult.Disabled));
        Assert.That(store.List(), Is.Empty);
        Assert.That(store.TryReadOldest(), Is.Null);
        var error = Errors.Single();
        Assert.That(error.EventName, Is.EqualTo("SpoolUnusable"));
        Assert.That(error.Text, Does.Contain("Matomo:Spool:Directory").And.Contain(file));
        Assert.That(_drops, Is.Empty, "a disabled spool counts nothing: the caller still owns the hits");
    }

    [Test]
    public void Open_DirectoryWithoutWritePermission_DisabledWithOneErrorNamingTheSetting()
    {
        Directory.CreateDirectory(_dir.Spool);
        if (!_dir.TryMakeUnwritable(_dir.Spool))
        {
            Assert.Ignore("Running as root on a file system without chattr +i: nothing can make a directory unwritable to root here.");
        }

        var store = Open();
        var result = store.Write(SpoolHits.Range(0, 5));

        Assert.That(store.Enabled, Is.False);
        Assert.That(result, Is.EqualTo(SpoolWriteResult.Disabled));
        Assert.That(Errors.Single().Text, Does.Contain("Matomo:Spool:Directory"));
    }

    [Test]
    public void Open_ReadOnlyDirectoryThatHasItsLockFile_DisabledAtOpenNotAtTheFirstWrite()
    {
        var first = Open();
        first.Write(SpoolHits.Range(0, 5));
        first.Dispose();
        if (!_dir.TryMakeUnwritable(_dir.Spool))
        {
            Assert.Ignore("Running as root on a file system without chattr +i: nothing can make a directory unwritable to root here.");
        }

        var store = Open();

        Assert.That(store.Enabled, Is.False);
        Assert.That(Errors.Single().Text, Does.Contain("Matomo:Spool:Directory").And.Contain("cannot be written"));
        Assert.That(Names("*.spool"), Has.Length.EqualTo(1), "what was kept stays for a start that can use it");
    }

    [Test]
    public void Write_DirectoryMadeReadOnlyAfterOpen_DisablesWithOneErrorAndKeepsTheFiles()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 5));
        if (!_dir.TryMakeUnwritable(_dir.Spool))
        {
            Assert.Ignore("Running as root on a file system without chattr +i: nothing can make a directory unwritable to root here.");
        }

        var first = store.Write(SpoolHits.Range(5, 5));
        var second = store.Write(SpoolHits.Range(10, 5));

        Assert.That(first, Is.EqualTo(SpoolWriteResult.Disabled));
        Assert.That(second, Is.EqualTo(SpoolWriteResult.Disabled));
        Assert.That(store.Statistics.Enabled, Is.False);
        Assert.That(store.List(), Is.Empty, "a disabled spool hands nothing out");
        Assert.That(Errors.Select(e => e.EventName), Is.EqualTo(new[] { "SpoolUnusable" }));
        Assert.That(Names("*.spool"), Has.Length.EqualTo(1), "what was kept stays for the next start");
        Assert.That(Names("*.tmp"), Is.Empty);
    }

    [Test]
    public void Write_DirectoryRemovedAfterOpen_DisablesWithOneError()
    {
        var store = Open();
        store.Write(SpoolHits.Range(0, 5));
        Directory.Delete(_dir.Spool, recursive: true);
        File.WriteAllText(_dir.Spool, "now a file");

        var first = store.Write(SpoolHits.Range(5, 5));
        var second = store.Write(SpoolHits.Range(10, 5));

        Assert.That(first, Is.EqualTo(SpoolWriteResult.Disabled));
        Assert.That(second, Is.EqualTo(SpoolWriteResult.Disabled));
        Assert.That(Errors.Select(e => e.EventName), Is.EqualTo(new[] { "SpoolUnusable" }));
    }

    [Test]
    public void Open_SecondStoreOnTheSameDirectory_ThrowsNamingTheSetting()
    {
        Open();

        var ex = Assert.Throws<InvalidOperationException>(() => Open());

        Assert.That(ex!.Message, Does.Contain("Matomo:Spool:Directory").And.Contain(_dir.Spool));
        Assert.That(ex.InnerException, Is.InstanceOf<IOException>());
        TestContext.Progress.WriteLine($"lock conflict HResult {ex.InnerException!.HResult}: {ex.InnerException.Message}");
    }

    [Test]
    public void Open_AfterTheHolderIsDisposed_Succeeds()
    {
        var first = Open();
        first.Write(SpoolHits.Range(0, 5));
        first.Dispose();

        var second = Open();

        Assert.That(second.Enabled, Is.True);
        Assert.That(second.List(), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Open_LockHeldByAnotherProcess_ThrowsNamingTheSetting()
    {
        Directory.CreateDirectory(_dir.Spool);
        var lockFile = Path.Combine(_dir.Spool, SpoolStore.LockFileName);
        using var holder = ChildProcess.Shell($"exec flock -x -n '{lockFile}' -c 'echo locked; exec cat'");
        Assert.That(await holder.ReadLineAsync(Timeout), Is.EqualTo("locked"));

        var ex = Assert.Throws<InvalidOperationException>(() => Open());
        holder.CloseInput();
        var exitCode = await holder.WaitForExitAsync(Timeout);
        var afterwards = Open();

        Assert.That(ex!.Message, Does.Contain("Matomo:Spool:Directory").And.Contain("another"));
        Assert.That(exitCode, Is.EqualTo(0));
        Assert.That(afterwards.Enabled, Is.True, "the lock goes with the process that held it");
    }

    [Test]
    public async Task Open_InAnotherProcessWhileThisOneHoldsTheSpool_FailsThere()
    {
        Open();
        var lockFile = Path.Combine(_dir.Spool, SpoolStore.LockFileName);

        using var other = ChildProcess.Spool("spool-open", _dir.Spool);
        var message = await other.ReadLineAsync(Timeout);
        var exitCode = await other.WaitForExitAsync(Timeout);
        using var shell = ChildProcess.Shell($"flock -x -n '{lockFile}' true; echo $?");
        var flockExit = await shell.ReadLineAsync(Timeout);

        Assert.That(exitCode, Is.EqualTo(SpoolChildProgram.InUse), message);
        Assert.That(message, Does.Contain("Matomo:Spool:Directory"));
        Assert.That(flockExit, Is.EqualTo("1"), "flock(1) sees the lock too");
    }

    [Test]
    public async Task Open_AfterAWriterWasKilled_SeesNoHalfFileAndEveryAnnouncedBatch()
    {
        // Three rounds kill the writer right after it announced a batch, wherever it is then (encoding the next one, or
        // writing and fsyncing its temporary file); a last round kills it for certain between a file's fsync and its
        // rename. After each, a new store must see only whole files, every announced batch among them.
        var writes = 0;
        var tempsLeft = 0;
        for (var round = 0; round < 4; round++)
        {
            var midWrite = round == 3;
            using (var writer = midWrite
                ? ChildProcess.Spool("spool-write-pause", _dir.Spool, "2")
                : ChildProcess.Spool("spool-write", _dir.Spool))
            {
                var announced = 0;
                while (announced < (midWrite ? 2 : 3 + round))
                {
                    Assert.That(await writer.ReadLineAsync(Timeout), Does.StartWith("written "));
                    announced++;
                }

                if (midWrite)
                {
                    Assert.That(await writer.ReadLineAsync(Timeout), Does.StartWith("mid-write "));
                    Assert.That(Names("*.tmp"), Has.Length.EqualTo(1), "the writer is stopped with its temporary file on disk");
                }

                writer.Kill();
                await writer.WaitForExitAsync(Timeout);
                writes += announced;
            }

            tempsLeft += Names("*.tmp").Length;
            var store = Open();
            var files = store.List();
            foreach (var file in files)
            {
                var batch = store.TryRead(file);
                Assert.That(batch, Is.Not.Null, $"{file.Path} is not whole");
                Assert.That(batch!.Hits, Has.Count.EqualTo(1000));
                store.Release(batch);
            }

            Assert.That(Names("*.tmp"), Is.Empty);
            Assert.That(store.Statistics.BadFiles, Is.EqualTo(0));
            Assert.That(files.Count, Is.GreaterThanOrEqualTo(writes), "every batch the writer announced is on disk");
            if (midWrite)
            {
                Assert.That(files.Count, Is.EqualTo(writes), "the batch killed before its rename is not visible");
            }

            store.Dispose();
            _stores.Remove(store);
            writes = files.Count;
        }

        TestContext.Progress.WriteLine($"{tempsLeft} unfinished writes were left by 4 kills and removed at open.");
        Assert.That(tempsLeft, Is.GreaterThan(0), "no kill landed while a batch was being written: the test proved nothing");
    }

    [Test]
    public void Metrics_WriteReadAccount_ReportSpooledReplayedBytesAndFiles()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = (IMeterFactory)services.GetService(typeof(IMeterFactory))!;
        var values = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == MatomoTracker.MeterName && instrument.Name.StartsWith("matomo.rpc.spool.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (values)
            {
                values[instrument.Name] = instrument.GetType().Name.StartsWith("Observable", StringComparison.Ordinal)
                    ? value
                    : values.GetValueOrDefault(instrument.Name) + value;
            }
        });
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) =>
        {
            lock (values)
            {
                values[instrument.Name] = value;
            }
        });
        listener.Start();
        var store = SpoolStore.Open(new SpoolSettings(_dir.Spool, long.MaxValue), _logger, meterFactory: factory);
        _stores.Add(store);

        store.Write(SpoolHits.Range(0, 10));
        store.Write(SpoolHits.Range(10, 5));
        var batch = store.TryReadOldest()!;
        store.Account(batch, 10);
        listener.RecordObservableInstruments();

        Assert.That(values["matomo.rpc.spool.hits.spooled"], Is.EqualTo(15));
        Assert.That(values["matomo.rpc.spool.hits.replayed"], Is.EqualTo(10));
        Assert.That(values["matomo.rpc.spool.bytes"], Is.EqualTo(new FileInfo(store.List().Single().Path).Length));
        Assert.That(values["matomo.rpc.spool.files"], Is.EqualTo(1));
    }
}
