using System.Diagnostics.Metrics;
using Matomo.Rpc.Internal;
using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>A tracker, its queue and an encoder wired by hand, on a fake clock.</summary>
internal sealed class TrackerHarness : IDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private readonly TestMeterFactory _meters = new();

    public TrackerHarness(Action<MatomoOptions>? configure = null, FakeTimeProvider? time = null, SampleSource? samples = null)
    {
        Options = new MatomoOptions { SiteId = 1, LogOnly = true, VisitorIdentity = MatomoVisitorIdentity.None, VisitorIdSalt = "salt" };
        configure?.Invoke(Options);
        Time = time ?? new FakeTimeProvider(Start);
        Queue = new HitQueue(Options, _meters, Time);
        Tracker = new MatomoTracker(Options, Time, Queue, NullLogger<MatomoTracker>.Instance, samples);
    }

    public MatomoOptions Options { get; }

    public FakeTimeProvider Time { get; }

    public HitQueue Queue { get; }

    public MatomoTracker Tracker { get; }

    /// <summary>What the Matomo check learned; the encoder and delivery read it.</summary>
    public TrackingState CheckState { get; } = new();

    /// <summary>Whether sends work, as the last <see cref="Sender"/> or <see cref="Delivery"/> made reports it.</summary>
    public SendHealth? SendHealth { get; private set; }

    public static MatomoCallerInfo DefaultCaller => new() { Host = "api.example.org", Scheme = "http" };

    public HitEncoder Encoder() => new(Options, new VisitorIdGenerator(Options.VisitorIdSalt), CheckState, NullLogger.Instance);

    /// <summary>Delivery to <paramref name="writer"/> on <paramref name="clock"/> (the fake clock by default), logging to <paramref name="logger"/>.</summary>
    public HitDelivery Delivery(IHitWriter writer, TimeProvider? clock = null, ILogger? logger = null, HitSpool? spool = null)
    {
        clock ??= Time;
        logger ??= NullLogger.Instance;
        SendHealth = new SendHealth(Queue, clock, logger);
        return new HitDelivery(writer, Encoder(), Queue, Options, CheckState, SendHealth, clock, logger, spool);
    }

    /// <summary>A spool in <paramref name="directory"/>, opened, counting into this harness's statistics.</summary>
    public HitSpool Spool(string directory, ILogger? logger = null)
    {
        var spool = new HitSpool(new SpoolSettings(directory, long.MaxValue), Options.Sending.BatchSize, logger ?? NullLogger.Instance, Time, _meters, Queue.Metrics);
        spool.Open();
        return spool;
    }

    /// <summary>The background sender with its delivery to <paramref name="writer"/>.</summary>
    public MatomoSender Sender(IHitWriter writer, TimeProvider? clock = null, ILogger? logger = null) =>
        new(Queue, Delivery(writer, clock, logger), Options, clock ?? Time, logger ?? NullLogger.Instance);

    /// <summary>
    /// Runs one call of <paramref name="action"/> that lasts <paramref name="duration"/> (12 ms by default) and returns its
    /// hit: service code does <paramref name="during"/>, the adapter does <paramref name="adapter"/> and completes the call
    /// with <paramref name="outcome"/> (OK by default) and <paramref name="exception"/>.
    /// </summary>
    public MatomoHit Hit(string action = "greet.Greeter/SayHello", MatomoCallKind kind = MatomoCallKind.Unary, Action<MatomoCall>? during = null,
        TimeSpan? duration = null, MatomoCallerInfo? caller = null, Action<MatomoCallScope>? adapter = null, MatomoOutcome? outcome = null,
        Exception? exception = null)
    {
        var scope = Tracker.StartCall(action, kind) ?? throw new InvalidOperationException("excluded");
        scope.SetCaller(caller ?? DefaultCaller);
        during?.Invoke(scope.Call);
        adapter?.Invoke(scope);
        Time.Advance(duration ?? TimeSpan.FromMilliseconds(12));
        Assert.That(scope.Complete(outcome ?? MatomoOutcome.Ok, exception), Is.True, "the hit was not queued");
        return TakeHit();
    }

    public MatomoHit TakeHit() => Queue.TryRead(out var hit) ? hit : throw new InvalidOperationException("no hit queued");

    public string Encode(Action<MatomoCall>? during = null, string action = "greet.Greeter/SayHello", MatomoCallKind kind = MatomoCallKind.Unary,
        TimeSpan? duration = null, MatomoCallerInfo? caller = null, Action<MatomoCallScope>? adapter = null, MatomoOutcome? outcome = null,
        Exception? exception = null) =>
        Encoder().Encode(Hit(action, kind, during, duration, caller, adapter, outcome, exception));

    /// <summary>The factory the tracker's meter comes from (a listener tells this harness's instruments apart by it).</summary>
    public IMeterFactory Meters => _meters;

    public void Dispose() => _meters.Dispose();

    internal sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, this);
            lock (_meters)
            {
                _meters.Add(meter);
            }

            return meter;
        }

        public void Dispose()
        {
            lock (_meters)
            {
                _meters.ForEach(m => m.Dispose());
                _meters.Clear();
            }
        }
    }
}
