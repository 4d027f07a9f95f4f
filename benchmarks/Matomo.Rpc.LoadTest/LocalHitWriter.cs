using Matomo.Rpc.Internal;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// The sender's writer for the decomposition modes: instead of an HTTP request, either answers at once that every hit
/// of the batch was tracked (mode 10: the hits were encoded into the batch as for Matomo, only the HTTP part is left
/// out), or never answers until the sender stops (mode 9: the queue of one stays full, so every other hit is dropped).
/// </summary>
internal sealed class LocalHitWriter(bool hang) : IHitWriter
{
    private long _bytes;

    public string Describe => hang ? "a writer that never answers" : "a writer that counts and answers at once";

    /// <summary>UTF-8 bytes of the queries handed over (read, so the encoded bytes are not dead weight to the JIT).</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    public async Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken)
    {
        if (hang)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        long bytes = 0;
        foreach (var hit in hits)
        {
            if (hit.TryGetUtf8(out var utf8))
            {
                bytes += utf8.Length;
            }
        }

        Interlocked.Add(ref _bytes, bytes);
        return SendResult.Ok(hits.Count);
    }
}
