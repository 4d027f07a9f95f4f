using Matomo.Rpc.Internal;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Shared.Tests;

[TestFixture]
public class LogHitWriterTests
{
    private static (PendingHit Hit, string Query) Encoded(TrackerHarness harness, Action<MatomoCall>? during = null, MatomoCallerInfo? caller = null)
    {
        var hit = harness.Hit(during: during, caller: caller);
        var query = harness.Encoder().Encode(hit);
        return (new PendingHit(hit, query), query);
    }

    [Test]
    public async Task WriteAsync_Hit_LogsReadableLineWithDecodedProperties()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.UserId;
            o.UserId.Mode = MatomoUserIdMode.Plain;
        });
        var (hit, _) = Encoded(harness, call => call.AddCustomVariable("plan", "gold {\"x\"}"), HarnessCaller("alice"));
        var logger = new PropertyLogger(LogLevel.Information);

        var result = await new LogHitWriter(logger).WriteAsync([hit], CancellationToken.None);

        Assert.That(result.Tracked, Is.EqualTo(1));
        var entry = logger.Entries.Single();
        Assert.That(entry.EventId, Is.EqualTo(new EventId(1, "HitLogged")));
        Assert.That(entry.Level, Is.EqualTo(LogLevel.Information));
        Assert.That(entry.Properties["Action"], Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(entry.Properties["Outcome"], Is.EqualTo("ok"));
        Assert.That(entry.Properties["Kind"], Is.EqualTo("unary"));
        Assert.That(entry.Properties["DurationMs"], Is.EqualTo(12L));
        Assert.That(entry.Properties["Visitor"], Is.EqualTo("uid=alice"));
        Assert.That(entry.Properties["Variables"], Is.EqualTo("status=ok; kind=unary; plan=gold {\"x\"}"));
        Assert.That(entry.Properties["Parameters"], Is.EqualTo(string.Empty));
        Assert.That(entry.Text, Does.Not.Contain("%"), "the line is decoded, not percent-encoded");
    }

    [Test]
    public async Task WriteAsync_DebugEnabled_AlsoLogsExactQuery()
    {
        using var harness = new TrackerHarness();
        var (hit, query) = Encoded(harness);
        var logger = new PropertyLogger(LogLevel.Debug);

        await new LogHitWriter(logger).WriteAsync([hit], CancellationToken.None);

        Assert.That(logger.Entries.Select(e => e.EventId.Name), Is.EqualTo(new[] { "HitLogged", "HitQuery" }));
        var raw = logger.Entries[1];
        Assert.That(raw.EventId.Id, Is.EqualTo(70));
        Assert.That(raw.Level, Is.EqualTo(LogLevel.Debug));
        Assert.That(raw.Properties["Query"], Is.EqualTo(query));
    }

    [Test]
    public async Task WriteAsync_InformationOnly_NoQueryLogged()
    {
        using var harness = new TrackerHarness();
        var (hit, _) = Encoded(harness);
        var logger = new PropertyLogger(LogLevel.Information);

        await new LogHitWriter(logger).WriteAsync([hit], CancellationToken.None);

        Assert.That(logger.Entries.Select(e => e.EventId.Name), Is.EqualTo(new[] { "HitLogged" }));
        Assert.That(logger.Entries.Single().Properties, Does.Not.ContainKey("Query"));
    }

    [Test]
    public async Task WriteAsync_PerCallParametersAndHandTimedPerf_ShownDecoded()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
        });
        var (hit, query) = Encoded(harness, call =>
        {
            call.SetVar("e_c", "billing & more");
            call.SetPerf("pf_srv", TimeSpan.FromMilliseconds(3));
            call.SetPerf("pf_tfr", TimeSpan.FromMilliseconds(7));
        });
        var logger = new PropertyLogger(LogLevel.Information);

        await new LogHitWriter(logger).WriteAsync([hit], CancellationToken.None);

        var properties = logger.Entries.Single().Properties;
        Assert.That(properties["DurationMs"], Is.EqualTo(3L), "the duration Matomo would store");
        Assert.That(properties["Variables"], Is.EqualTo(string.Empty));
        Assert.That(properties["Parameters"], Is.EqualTo("e_c=billing & more; pf_tfr=7"));
        Assert.That(properties["Visitor"], Is.EqualTo("cid=" + QueryText.Parse(query)["cid"]));
    }

    [Test]
    public async Task WriteAsync_ControlCharactersInCallerText_EscapedOnOneLine()
    {
        using var harness = new TrackerHarness();
        var (hit, _) = Encoded(harness, call => call.AddCustomVariable("note", "a\r\nHitLogged forged\u0007"));
        var logger = new PropertyLogger(LogLevel.Information);

        await new LogHitWriter(logger).WriteAsync([hit], CancellationToken.None);

        var entry = logger.Entries.Single();
        Assert.That(entry.Properties["Variables"], Does.EndWith("note=a\\r\\nHitLogged forged\\u0007"));
        Assert.That(entry.Text, Does.Not.Contain("\n").And.Not.Contain("\r"));
    }

    [Test]
    public async Task WriteAsync_SeveralHits_OneLineEachAllCountedSent()
    {
        using var harness = new TrackerHarness();
        var hits = Enumerable.Range(0, 3).Select(_ => Encoded(harness).Hit).ToList();
        var logger = new PropertyLogger(LogLevel.Information);

        var result = await new LogHitWriter(logger).WriteAsync(hits, CancellationToken.None);

        Assert.That(result.Tracked, Is.EqualTo(3));
        Assert.That(logger.Entries.Select(e => e.EventId.Name), Is.EqualTo(new[] { "HitLogged", "HitLogged", "HitLogged" }));
    }

    [Test]
    public async Task WriteAsync_PseudonymUserId_NameInNoLogLine()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);
        var (hit, query) = Encoded(harness, call => call.SetVar("dimension1", "x"), HarnessCaller("alice@example.org"));
        var logger = new PropertyLogger(LogLevel.Debug);

        await new LogHitWriter(logger).WriteAsync([hit], CancellationToken.None);

        Assert.That(logger.Entries.Select(e => e.EventId.Name), Is.EqualTo(new[] { "HitLogged", "HitQuery" }));
        Assert.That(logger.Entries[0].Properties["Visitor"], Is.EqualTo("uid=" + QueryText.Parse(query)["uid"]));
        Assert.That(logger.Entries.Select(e => e.Text), Has.None.Contain("alice"));
        Assert.That(query, Does.Not.Contain("alice"));
    }

    private static MatomoCallerInfo HarnessCaller(string user) => TrackerHarness.DefaultCaller with { UserId = user };

    /// <summary>Keeps each entry's structured properties (what a JSON console or Seq would get).</summary>
    private sealed class PropertyLogger(LogLevel minimum) : ILogger
    {
        public List<(EventId EventId, LogLevel Level, string Text, IReadOnlyDictionary<string, object?> Properties)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var properties = state is IReadOnlyList<KeyValuePair<string, object?>> list
                ? list.ToDictionary(p => p.Key, p => p.Value)
                : new Dictionary<string, object?>();
            Entries.Add((eventId, logLevel, formatter(state, exception), properties));
        }
    }
}
