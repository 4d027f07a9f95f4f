using System.Text;

namespace Matomo.Rpc.Shared.Tests.Oracle;

/// <summary>
/// Builds a Matomo query string; every name and value is UTF-8 (lone surrogates become U+FFFD), percent-encoded where
/// PHP's parse_url and parse_str (or the JSON body) would change it: '#', '%', '&amp;', '+', '=', '"', '\', control
/// characters, DEL and non-ASCII as %XX, a space as '+'. Written character by character, unlike the encoder.
/// </summary>
internal struct StringQueryWriter
{
    private const string Escaped = "\"#%&+=\\";

    private readonly StringBuilder _builder;

    public StringQueryWriter(StringBuilder builder)
    {
        _builder = builder;
        _builder.Clear().Append('?');
    }

    public readonly void Add(string name, string value)
    {
        if (_builder.Length > 1)
        {
            _builder.Append('&');
        }

        AppendEscaped(_builder, name);
        _builder.Append('=');
        AppendEscaped(_builder, value);
    }

    public override readonly string ToString() => _builder.ToString();

    public static void AppendEscaped(StringBuilder builder, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        foreach (var b in bytes)
        {
            if (b == ' ')
            {
                builder.Append('+');
            }
            else if (b > ' ' && b < 0x7F && !Escaped.Contains((char)b, StringComparison.Ordinal))
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('%').Append(HexUpper[b >> 4]).Append(HexUpper[b & 0xF]);
            }
        }
    }

    private const string HexUpper = "0123456789ABCDEF";
}
