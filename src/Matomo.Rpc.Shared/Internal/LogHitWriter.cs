using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>Log-only mode: one Information line per hit instead of a request. The token is never part of a hit's query.</summary>
internal sealed class LogHitWriter : IHitWriter
{
    private readonly ILogger _logger;

    public LogHitWriter(ILogger logger) => _logger = logger;

    public string Describe => "the log (log-only mode)";

    public Task<SendResult> WriteAsync(IReadOnlyList<PendingHit> hits, CancellationToken cancellationToken)
    {
        foreach (var hit in hits)
        {
            Log.HitLogged(_logger, hit.Query);
        }

        return Task.FromResult(SendResult.Ok(hits.Count));
    }
}
