namespace Matomo.Rpc.Internal;

internal sealed class InMemoryHitWriter : IHitWriter
{
    private readonly InMemoryMatomoSink _sink;

    public InMemoryHitWriter(InMemoryMatomoSink sink) => _sink = sink;

    public string Describe => "memory (InMemoryMatomoSink)";

    public Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken)
    {
        _sink.Add(hits);
        return Task.FromResult(SendResult.Ok(hits.Count));
    }
}
