namespace Matomo.Rpc.SignalR.Tests.Reliability;

/// <summary>
/// Puts headers on every HTTP request of a SignalR client without the client's format checks (a typed User-Agent or
/// Referer refuses many strings a hostile caller can still send on the wire).
/// </summary>
public sealed class RawHeadersHandler(HttpMessageHandler inner, IReadOnlyDictionary<string, string> headers) : DelegatingHandler(inner)
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        foreach (var (name, value) in headers)
        {
            request.Headers.Remove(name);
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return base.SendAsync(request, cancellationToken);
    }
}
