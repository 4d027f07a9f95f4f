using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Writes Matomo's bulk body, <c>{"requests":["?…","?…"],"token_auth":"…"}</c>, as UTF-8: the same bytes as
/// Utf8JsonWriter with the relaxed encoder, without a writer or a string per hit. The encoder's queries are
/// percent-encoded ASCII that needs no JSON escaping, so their bytes are copied as they are.
/// </summary>
internal sealed class BulkBodyWriter
{
    // The body goes to Matomo, never into an HTML page: the default encoder's HTML-safety escapes ('&' as \u0026, '+'
    // as \u002B) only made it longer. Quotes, backslashes and control characters are still escaped.
    private static readonly JavaScriptEncoder Relaxed = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    // What a JSON string may hold unescaped whatever the encoder: printable ASCII other than '"' and '\'.
    private static readonly SearchValues<char> JsonSafe = SearchValues.Create(
        " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    private readonly byte[]? _tokenMember;

    public BulkBodyWriter(string? token)
    {
        if (!string.IsNullOrEmpty(token))
        {
            var encoded = JsonEncodedText.Encode(token, Relaxed).EncodedUtf8Bytes;
            _tokenMember = [.. ",\"token_auth\":\""u8, .. encoded, (byte)'"'];
        }
    }

    public void Write(IBufferWriter<byte> body, IReadOnlyList<PendingHit> hits)
    {
        Append(body, "{\"requests\":["u8);
        for (var i = 0; i < hits.Count; i++)
        {
            Append(body, i == 0 ? "\""u8 : ",\""u8);
            WriteQuery(body, hits[i]);
            Append(body, "\""u8);
        }

        Append(body, "]"u8);
        if (_tokenMember is not null)
        {
            Append(body, _tokenMember);
        }

        Append(body, "}"u8);
    }

    private static void WriteQuery(IBufferWriter<byte> body, PendingHit hit)
    {
        if (hit.TryGetUtf8(out var utf8))
        {
            Append(body, utf8);
            return;
        }

        // A query read back as a string: as it is when it is plain ASCII (it always is when this encoder wrote it).
        var query = hit.Query;
        if (query.AsSpan().IndexOfAnyExcept(JsonSafe) < 0)
        {
            var count = Encoding.ASCII.GetBytes(query, body.GetSpan(query.Length));
            body.Advance(count);
        }
        else
        {
            Append(body, JsonEncodedText.Encode(query, Relaxed).EncodedUtf8Bytes);
        }
    }

    private static void Append(IBufferWriter<byte> body, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(body.GetSpan(bytes.Length));
        body.Advance(bytes.Length);
    }
}
