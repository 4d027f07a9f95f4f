namespace Matomo.Rpc.TestSupport;

/// <summary>One HTTP request the stand-in received, with what it answered.</summary>
/// <param name="Method">HTTP method.</param>
/// <param name="Path">Request path, e.g. <c>/matomo.php</c>.</param>
/// <param name="QueryString">The raw query string (with its leading '?'), empty when none.</param>
/// <param name="Body">The request body as text.</param>
/// <param name="ContentType">The request's Content-Type, if any.</param>
/// <param name="StatusCode">The status code answered.</param>
/// <param name="ResponseBody">The answer's body as text (empty for images and 204).</param>
/// <param name="TokenInUrl">Whether a <c>token_auth</c> parameter was in the URL (it never should be).</param>
/// <param name="ReceivedAt">When the request arrived.</param>
public sealed record ReceivedRequest(
    string Method,
    string Path,
    string QueryString,
    string Body,
    string? ContentType,
    int StatusCode,
    string ResponseBody,
    bool TokenInUrl,
    DateTimeOffset ReceivedAt);
