using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The one background loop: waits for a request slot (the <see cref="ConcurrencyLimiter"/> allows as many batches in
/// flight as Matomo sustains, at most MaxConcurrentRequests), takes the next batch from the <see cref="BatchSource"/>
/// (or waits for one), and hands it to a <see cref="BatchRunner"/>, which delivers it and backs off between attempts
/// while the loop goes on with other batches; on stop it drains until the deadline and settles what is left. Never dies.
/// <para>
/// With a spool (<c>Matomo:Spool:Directory</c>): opened at start (another process holding it fails the start) and closed
/// at stop; the <see cref="SpoolSpiller"/> moves hits to disk when they would otherwise be lost, and the batch source
/// replays the spool, oldest file first, taking turns with live batches.
/// </para>
/// <para>
/// Not a <see cref="BackgroundService"/>: since .NET 10 its start queues <c>ExecuteAsync</c> to the thread pool with
/// the stopping token, so a stop that comes before the thread pool runs it (an app that stops at once, a host whose
/// next service fails to start) would skip the loop, and with it the drain and the counting of every queued hit. The
/// loop here is started without a token and always runs; only the stop (completing the queue) and its deadline end it.
/// </para>
/// </summary>
internal sealed class MatomoSender : IHostedService, IDisposable
{
    private readonly HitQueue _queue;
    private readonly HitDelivery _delivery;
    private readonly MatomoSendingOptions _sending;
    private readonly int _siteId;
    private readonly bool _withToken;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _abort = new();
    private readonly HitSpool? _spool;
    private readonly SpoolSpiller? _spiller;
    private readonly BatchSource _source;
    private readonly BatchRunner _runner;
    private readonly List<Task> _notKeptRuns = []; // hits the spool turned unusable for on the way, delivered beside the loop
    /// <summary>How long a stop whose host token was cancelled still waits for the loop to settle what it holds.</summary>
    internal static readonly TimeSpan SettleGrace = TimeSpan.FromSeconds(5);

    private ITimer? _deadline;
    private Task? _loop;
    private int _stopping;

    public MatomoSender(HitQueue queue, HitDelivery delivery, MatomoOptions options, TimeProvider time, ILogger logger, HitSpool? spool = null, SendHealth? health = null)
    {
        (_queue, _delivery, _sending, _spool) = (queue, delivery, options.Sending, spool);
        (_time, _logger, _siteId, _withToken) = (time, logger, options.SiteId, !string.IsNullOrEmpty(options.TokenAuth));
        var encoding = new Lock(); // the encoder is not thread-safe: the loop and the spill thread both encode
        _spiller = spool is null ? null
            : new SpoolSpiller(queue, delivery, spool, health, _sending, encoding, () => Stopping, RunNotKept, logger);
        _source = new BatchSource(queue, delivery, options, time, logger, spool, health, _spiller, encoding, () => Stopping);
        _runner = new BatchRunner(delivery, queue, _source, _sending, time, logger);
    }

    /// <summary>How many requests may be in flight now.</summary>
    internal ConcurrencyLimiter Limiter => _delivery.Limiter;

    private bool Stopping => Volatile.Read(ref _stopping) != 0;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Log.Started(_logger, _delivery.Describe, _siteId, _withToken ? " with a token" : string.Empty);

        // A lock conflict (another process on the directory) throws here and fails the start, naming the setting.
        _spool?.Open();

        // No token: a start that is cancelled (or a stop right after it) must still find the loop running, to drain.
        _loop ??= Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopping, 1) == 0)
        {
            _queue.Complete();
            _deadline = _time.CreateTimer(static s => ((CancellationTokenSource)s!).Cancel(), _abort, _sending.ShutdownTimeout, Timeout.InfiniteTimeSpan);
        }

        _queue.WakeSender();
        if (_loop is { } loop)
        {
            // The host's token ending the stop early aborts the loop (what is still held is settled as at the deadline).
            // The stop still waits for that settling, which the abort makes prompt (no request or wait is left): else
            // the stop would return with hits uncounted, and the spool be disposed while the settling spills into it.
            // Bounded all the same: a stalled disk under the spool must not hold the host's shutdown for good.
            using (cancellationToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), _abort))
            {
                await loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (!loop.IsCompleted)
                {
                    await loop.WaitAsync(SettleGrace, CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }

            if (!loop.IsCompleted)
            {
                Log.StopUnsettled(_logger, SettleGrace);
            }
        }

        _spool?.Dispose();
    }

    public void Dispose()
    {
        _deadline?.Dispose();
        _source.Dispose();
        _abort.Dispose();
        _spool?.Dispose();
    }

    private async Task RunAsync()
    {
        try
        {
            await ExecuteAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The parts log and go on; this is what they did not catch. Never surfaces to the host or the calls.
            Log.SenderLoopFailed(_logger, ex);
        }
    }

    // Stopping completes the queue, which ends the loop once drained, and the abort token enforces the shutdown deadline.
    private async Task ExecuteAsync()
    {
        var abort = _abort.Token;
        using var onAbort = abort.UnsafeRegister(static s => ((HitQueue)s!).WakeSender(), _queue);
        using var spillEnd = CancellationTokenSource.CreateLinkedTokenSource(abort);
        var spilling = _spool is { Active: true } ? _spiller!.Start(spillEnd.Token) : Task.CompletedTask;
        var running = new List<Task>();
        try
        {
            while (true)
            {
                // A slot before a batch: with one request at a time, the next batch is taken when the last is done.
                await Limiter.WaitAsync(abort).ConfigureAwait(false);
                Batch? batch;
                while ((batch = _source.Take(abort)) is null && !_source.Drained)
                {
                    await _source.WaitAsync(abort).ConfigureAwait(false);
                }

                if (batch is null)
                {
                    Limiter.Release();
                    break;
                }

                running.RemoveAll(static t => t.IsCompleted);
                running.Add(_runner.RunAsync(batch, holdsSlot: true, abort));
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
        }
        finally
        {
            var spooledBefore = _spool?.Statistics.HitsSpooled ?? 0;
            await spillEnd.CancelAsync().ConfigureAwait(false);
            await spilling.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await Task.WhenAll([.. running, .. NotKeptRuns()]).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _source.SettleAtStop(_runner.Abandoned, spooledBefore);
            await Task.WhenAll(NotKeptRuns()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing); // from the stop's own spill
            _runner.LogDrops();
        }
    }

    // Called by the spill thread (and by the stop's spill): the run is awaited with the loop's own before the stop settles.
    private void RunNotKept(Batch batch)
    {
        var run = _runner.RunAsync(batch, holdsSlot: false, _abort.Token);
        lock (_notKeptRuns)
        {
            _notKeptRuns.RemoveAll(static t => t.IsCompleted);
            _notKeptRuns.Add(run);
        }
    }

    private Task[] NotKeptRuns()
    {
        lock (_notKeptRuns)
        {
            return [.. _notKeptRuns];
        }
    }
}
