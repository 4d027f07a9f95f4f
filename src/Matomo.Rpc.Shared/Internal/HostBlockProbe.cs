using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Whether Matomo's brute-force detection blocks this host's IP, asked of matomo.php with two bulk requests that store
/// nothing: one with the token, one without. Matomo's brute-force check runs for every bulk request with hits that
/// carries a token (before any hit is read), and a blocked IP gets HTTP 500 for it; a request without a token is not
/// checked (seen on Matomo 5.0.2). So 500 with the token and 2xx without it is the block, whatever else may be wrong.
/// Neither request is counted as a failed login (Matomo records none for a bulk request's token unless a hit needs it).
/// Used by the sender after a 500 that counts nothing and by the Matomo-side check.
/// </summary>
internal sealed class HostBlockProbe
{
    private readonly byte[] _withToken;
    private readonly byte[] _withoutToken;

    private HostBlockProbe(int site, string token) => (_withToken, _withoutToken) = (Body(site, token), Body(site, null));

    /// <summary>The probe for <paramref name="site"/>; null without a token (nothing is checked, nothing can be blocked).</summary>
    public static HostBlockProbe? For(int site, string? token) => string.IsNullOrEmpty(token) ? null : new HostBlockProbe(site, token);

    /// <summary>
    /// Asks through <paramref name="post"/>, which sends a JSON bulk body to matomo.php and returns the HTTP status (0
    /// for no answer): true when the request with the token gets 500 and the one without it a 2xx.
    /// </summary>
    public async Task<bool> IsBlockedAsync(Func<ReadOnlyMemory<byte>, CancellationToken, Task<int>> post, CancellationToken cancellationToken)
    {
        if (await post(_withToken, cancellationToken).ConfigureAwait(false) != 500)
        {
            return false;
        }

        return await post(_withoutToken, cancellationToken).ConfigureAwait(false) is >= 200 and < 300;
    }

    /// <summary>
    /// A bulk request that stores nothing: one hit with <c>rec=0</c> (Matomo counts it as tracked). A request without
    /// hits would not do: Matomo answers it before its brute-force check (seen on Matomo 5.0.2).
    /// </summary>
    private static byte[] Body(int site, string? token)
    {
        var body = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteStartArray("requests");
            json.WriteStringValue("?idsite=" + site.ToString(CultureInfo.InvariantCulture) + "&rec=0");
            json.WriteEndArray();
            if (!string.IsNullOrEmpty(token))
            {
                json.WriteString("token_auth", token);
            }

            json.WriteEndObject();
        }

        return body.WrittenSpan.ToArray();
    }
}
