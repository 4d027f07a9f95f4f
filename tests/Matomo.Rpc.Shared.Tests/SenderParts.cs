using Matomo.Rpc.Internal;
using Matomo.Rpc.Internal.Spool;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// The sender's parts wired by hand, as <see cref="MatomoSender"/> wires them, on a fake clock (seen through an
/// <see cref="ArmedTimeProvider"/>): a fake writer, delivery with a spool when asked, the send health, the spill thread's
/// <see cref="SpoolSpiller"/>, the <see cref="BatchSource"/> and a <see cref="BatchRunner"/>, with the stop flag in the test's hands.
/// </summary>
internal sealed class SenderParts : IDisposable
{
    /// <summary>How long a test waits in real time for what the parts do.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private readonly Lock _encoding = new();
    private readonly SpoolDirectory? _directory;

    /// <summary>Batches of 3, a queue of 100, a 1 s flush interval, retries after 1 s (at most 4 s).</summary>
    public SenderParts(bool withSpool, Action<MatomoOptions>? configure = null)
    {
        Harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.Sending.BatchSize = 3;
            o.Sending.QueueCapacity = 100;
            o.Sending.FlushInterval = TimeSpan.FromSeconds(1);
            o.Sending.RetryBaseDelay = TimeSpan.FromSeconds(1);
            o.Sending.RetryMaxDelay = TimeSpan.FromSeconds(4);
            configure?.Invoke(o);
        });
        Clock = new ArmedTimeProvider(Harness.Time);
        Writer = new FakeHitWriter(Harness.Time);
        if (withSpool)
        {
            _directory = new SpoolDirectory();
            Spool = Harness.Spool(_directory.Spool, Logger);
        }

        Delivery = Harness.Delivery(Writer, Clock, Logger, Spool);
        Health = Harness.SendHealth!;
        var sending = Harness.Options.Sending;
        Spiller = Spool is null ? null : new SpoolSpiller(Harness.Queue, Delivery, Spool, Health, sending, _encoding, () => Stopping, NotKept.Add, Logger);
        Source = new BatchSource(Harness.Queue, Delivery, Harness.Options, Clock, Logger, Spool, Health, Spiller, _encoding, () => Stopping);
        Runner = new BatchRunner(Delivery, Harness.Queue, Source, sending, Clock, Logger);
    }

    public TrackerHarness Harness { get; }

    public ArmedTimeProvider Clock { get; }

    public FakeHitWriter Writer { get; }

    public CapturingLogger Logger { get; } = new();

    public HitSpool? Spool { get; }

    public HitDelivery Delivery { get; }

    public SendHealth Health { get; }

    public SpoolSpiller? Spiller { get; }

    public BatchSource Source { get; }

    public BatchRunner Runner { get; }

    /// <summary>What the sender's stop flag says.</summary>
    public bool Stopping { get; set; }

    /// <summary>Batches the spiller handed back for delivery because the spool could not keep them.</summary>
    public List<Batch> NotKept { get; } = [];

    public HitQueue Queue => Harness.Queue;

    public MatomoStatistics Stats => Harness.Tracker.Statistics;

    public int EventCount(string name) => Logger.EventNames.Count(n => n == name);

    /// <summary>Queues <paramref name="count"/> hits named <paramref name="prefix"/>0, 1, …; each its own visitor when <paramref name="visitors"/>, else all one.</summary>
    public void Enqueue(int count, string prefix = "a/", bool visitors = false)
    {
        for (var i = 0; i < count; i++)
        {
            var scope = Harness.Tracker.StartCall(prefix + i, MatomoCallKind.Unary)!;
            if (visitors)
            {
                scope.SetCaller(new MatomoCallerInfo { VisitorKey = prefix + i });
            }

            Assert.That(scope.Complete(), Is.True);
        }
    }

    /// <summary>Puts <paramref name="files"/> files of <paramref name="hits"/> hits each into the spool, through the queue.</summary>
    public void SpoolFiles(int files, int hits, string prefix = "r")
    {
        for (var f = 0; f < files; f++)
        {
            Enqueue(hits, $"{prefix}{f}/");
            Assert.That(Spiller!.Spill(hits), Is.EqualTo(hits));
        }
    }

    /// <summary>The actions of what is left of <paramref name="batch"/>, in order (it is emptied).</summary>
    public static string[] Actions(Batch batch) => [.. batch.TakeRest().Select(h => h.Action)];

    public void Dispose()
    {
        Source.Dispose();
        Spool?.Dispose();
        _directory?.Dispose();
        Harness.Dispose();
    }
}
