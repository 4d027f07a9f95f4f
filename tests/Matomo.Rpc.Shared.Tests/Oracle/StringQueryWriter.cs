using System.Buffers;
using System.Text;

namespace Matomo.Rpc.Shared.Tests.Oracle;

/// <summary>Builds a Matomo query string; every name and value is percent-encoded as UTF-8 (lone surrogates become U+FFFD).</summary>
internal struct StringQueryWriter
{
    private static readonly SearchValues<char> Unreserved =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~");

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

    public static void AppendEscaped(StringBuilder builder, ReadOnlySpan<char> value)
    {
        Span<byte> bytes = stackalloc byte[256 * 3];
        while (!value.IsEmpty)
        {
            var plain = value.IndexOfAnyExcept(Unreserved);
            if (plain < 0)
            {
                builder.Append(value);
                return;
            }

            builder.Append(value[..plain]);
            value = value[plain..];

            // Encode the run of characters that need escaping, up to the next unreserved one.
            var run = value.IndexOfAny(Unreserved);
            var chunk = run < 0 ? value : value[..run];
            value = run < 0 ? [] : value[run..];
            while (!chunk.IsEmpty)
            {
                var take = Math.Min(chunk.Length, 256);
                if (take < chunk.Length && char.IsHighSurrogate(chunk[take - 1]))
                {
                    take--;
                }

                var count = Encoding.UTF8.GetBytes(chunk[..take], bytes);
                foreach (var b in bytes[..count])
                {
                    builder.Append('%').Append(HexUpper[b >> 4]).Append(HexUpper[b & 0xF]);
                }

                chunk = chunk[take..];
            }
        }
    }

    private const string HexUpper = "0123456789ABCDEF";
}
