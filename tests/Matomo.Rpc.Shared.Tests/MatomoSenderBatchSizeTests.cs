using Matomo.Rpc.Internal;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// Matomo:Sending:MaxBatchSize: the sender's batches grow from BatchSize while hits come faster than they carry them and
/// Matomo answers fast, and shrink back on slow answers. The whole sender on a fake clock (BatchSize 10, MaxBatchSize 40,
/// one request at a time, 150 hits of one visitor queued before it starts).
/// </summary>
public class MatomoSenderBatchSizeTests
{
    private const int Hits = 150;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private static readonly string[] InOrder = [.. Enumerable.Range(0, Hits).Select(i => "a/" + i)];

    [Test]
    public async Task Send_FastAnswersToFullBatches_DoublesUpToMaxBatchSizeKeepingTheOrder()
    {
        using var harness = Harness();
        var writer = new FakeHitWriter(harness.Time);

        await SendAllAsync(harness, writer);

        Assert.That(writer.Calls.Select(c => c.Actions.Length), Is.EqualTo(new[] { 10, 20, 40, 40, 40 }));
        Assert.That(writer.Calls.SelectMany(c => c.Actions), Is.EqualTo(InOrder), "one visitor's hits in order, each once");
        Assert.That(harness.Tracker.Statistics.Sent, Is.EqualTo(Hits));
    }

    [Test]
    public async Task Send_AnswersTurnSlow_HalvesBackToBatchSize()
    {
        using var harness = Harness();
        var writer = new FakeHitWriter(harness.Time);

        // Three fast answers, then each one slower than the slow answer (a Matomo that got busy).
        writer.Answer = (i, hits) =>
        {
            harness.Time.Advance(i < 3 ? TimeSpan.FromMilliseconds(2) : BatchSizer.SlowAnswer + TimeSpan.FromMilliseconds(50));
            return SendResult.Ok(hits.Count);
        };
        await SendAllAsync(harness, writer);

        Assert.That(writer.Calls.Select(c => c.Actions.Length), Is.EqualTo(new[] { 10, 20, 40, 40, 20, 10, 10 }));
        Assert.That(writer.Calls.SelectMany(c => c.Actions), Is.EqualTo(InOrder));
    }

    [Test]
    public async Task Send_AsSlowAsARealMatomo_KeepsBatchSize()
    {
        using var harness = Harness();
        var writer = new FakeHitWriter(harness.Time);

        // 10 hits in 60 ms (~170 hits/s, as the kit's Matomo with one request at a time): 20 would take 120 ms.
        writer.Answer = (_, hits) =>
        {
            harness.Time.Advance(TimeSpan.FromMilliseconds(6 * hits.Count));
            return SendResult.Ok(hits.Count);
        };
        await SendAllAsync(harness, writer);

        Assert.That(writer.Calls.Select(c => c.Actions.Length), Is.All.EqualTo(10));
        Assert.That(harness.Tracker.Statistics.Sent, Is.EqualTo(Hits));
    }

    [Test]
    public async Task Send_MatomoQueuesHits_KeepsBatchSize()
    {
        using var harness = Harness();
        var writer = new FakeHitWriter(harness.Time) { Answer = (_, _) => new SendResult(SendStatus.Queued, StatusCode: 200) };

        await SendAllAsync(harness, writer);

        Assert.That(writer.Calls.Select(c => c.Actions.Length), Is.All.EqualTo(10), "QueuedTracking: a bad hit drops the rest of its request");
        Assert.That(harness.Tracker.Statistics.Sent, Is.EqualTo(Hits));
    }

    [Test]
    public async Task Send_ServiceUnavailable_HalvesPerFailureAndGrowsBackOnFastAnswers()
    {
        using var harness = Harness();
        var writer = new FakeHitWriter(harness.Time);
        writer.Answer = (i, hits) => i is 3 or 4
            ? new SendResult(SendStatus.Transient, StatusCode: 503, Reason: "HTTP 503")
            : SendResult.Ok(hits.Count);
        using var sender = harness.Sender(writer, harness.Time);

        await sender.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        // The retries' backoff and the last partial batch's flush interval pass on the fake clock, moved only while the
        // sender waits for them (after a 503, and once 20 hits are left), so that no answer seems slower than it was.
        await Eventually.TrueAsync(() => harness.Tracker.Statistics.Sent == Hits || Advance(harness, writer), Timeout, () => harness.Tracker.Statistics.ToString());
        await sender.StopAsync(CancellationToken.None).WaitAsync(Timeout);

        // 10, 20, 40 answered; 40 refused twice with 503 (40 -> 20 -> 10) and then taken as it was; the next batch then
        // doubles from 10 (20), and again (40: only 20 hits left, taken at the flush interval).
        Assert.That(writer.Calls.Select(c => c.Actions.Length), Is.EqualTo(new[] { 10, 20, 40, 40, 40, 40, 20, 20 }));
        Assert.That(writer.Calls.Where(c => c.Index is not (3 or 4)).SelectMany(c => c.Actions), Is.EqualTo(InOrder));
    }

    private static bool Advance(TrackerHarness harness, FakeHitWriter writer)
    {
        var calls = writer.Calls.Count;
        if (calls is 4 or 5 || (calls == 7 && harness.Tracker.Statistics.Sent == Hits - 20))
        {
            harness.Time.Advance(TimeSpan.FromMilliseconds(10));
        }

        return false;
    }

    [Test]
    public async Task Stop_WithGrownBatches_DrainsEveryHitInOrder()
    {
        using var harness = Harness();
        var writer = new FakeHitWriter(harness.Time) { Manual = true };
        using var sender = harness.Sender(writer, harness.Time);
        await sender.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        var first = await writer.NextAsync();

        // Stopping with the first batch in flight and 140 hits left: the drain sends them all, the batches growing.
        var stop = sender.StopAsync(CancellationToken.None);
        first.Result.SetResult(SendResult.Ok(first.Actions.Length));
        for (var answered = first.Actions.Length; answered < Hits;)
        {
            var next = await writer.NextAsync();
            next.Result.SetResult(SendResult.Ok(next.Actions.Length));
            answered += next.Actions.Length;
        }

        await stop.WaitAsync(Timeout);

        Assert.That(writer.Calls.Select(c => c.Actions.Length), Is.EqualTo(new[] { 10, 20, 40, 40, 40 }));
        Assert.That(writer.Calls.SelectMany(c => c.Actions), Is.EqualTo(InOrder));
        Assert.That(harness.Tracker.Statistics.Sent, Is.EqualTo(Hits));
        Assert.That(harness.Tracker.Statistics.Dropped, Is.Zero);
    }

    private static TrackerHarness Harness()
    {
        var harness = new TrackerHarness(o =>
        {
            o.Recording = MatomoRecording.None;
            o.Sending.BatchSize = 10;
            o.Sending.MaxBatchSize = 40;
            o.Sending.MaxConcurrentRequests = 1;
        });
        for (var i = 0; i < Hits; i++)
        {
            Assert.That(harness.Tracker.StartCall("a/" + i, MatomoCallKind.Unary)!.Complete(), Is.True);
        }

        return harness;
    }

    private static async Task SendAllAsync(TrackerHarness harness, FakeHitWriter writer)
    {
        using var sender = harness.Sender(writer, harness.Time);
        await sender.StartAsync(CancellationToken.None).WaitAsync(Timeout);
        await Eventually.TrueAsync(() => harness.Tracker.Statistics.Sent == Hits, Timeout, () => harness.Tracker.Statistics.ToString());
        await sender.StopAsync(CancellationToken.None).WaitAsync(Timeout);
    }
}
