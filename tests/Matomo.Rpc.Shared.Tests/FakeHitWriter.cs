using System.Threading.Channels;
using Matomo.Rpc.Internal;
using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// An <see cref="IHitWriter"/> that records every request (the actions of its hits and the fake time it was made at)
/// and answers with <see cref="Answer"/>, or, when <see cref="Manual"/> is set, waits for the test to answer.
/// </summary>
internal sealed class FakeHitWriter : IHitWriter
{
    private readonly FakeTimeProvider _time;
    private readonly List<WriteCall> _calls = [];
    private readonly Channel<WriteCall> _pending = Channel.CreateUnbounded<WriteCall>();

    public FakeHitWriter(FakeTimeProvider time) => _time = time;

    public Func<int, IReadOnlyList<PendingHit>, SendResult> Answer { get; set; } = (_, hits) => SendResult.Ok(hits.Count);

    public bool Manual { get; set; }

    public string Describe => "fake";

    public IReadOnlyList<WriteCall> Calls
    {
        get
        {
            lock (_calls)
            {
                return [.. _calls];
            }
        }
    }

    public async Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken)
    {
        WriteCall call;
        lock (_calls)
        {
            call = new WriteCall(_calls.Count, [.. hits.Select(h => h.Action)], [.. hits.Select(h => h.Query)], _time.GetUtcNow(), cancellationToken);
            _calls.Add(call);
        }

        if (!Manual)
        {
            return Answer(call.Index, hits);
        }

        await _pending.Writer.WriteAsync(call, cancellationToken);
        return await call.Result.Task.WaitAsync(cancellationToken);
    }

    /// <summary>The next request made while <see cref="Manual"/> is set.</summary>
    public Task<WriteCall> NextAsync() => _pending.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    internal sealed record WriteCall(int Index, string[] Actions, string[] Queries, DateTimeOffset At, CancellationToken Token)
    {
        public TaskCompletionSource<SendResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
