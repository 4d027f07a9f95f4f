using System.Text;

namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>Hostile strings from a seeded <see cref="Random"/>, so that a failure reproduces with its seed.</summary>
public sealed class HostileText(int seed)
{
    /// <summary>One megabyte of text (in UTF-16 units), shared so that many calls do not allocate many megabytes.</summary>
    public static readonly string Megabyte = new string('\u00e9', 512 * 1024) + new string('x', 512 * 1024);

    private static readonly string[] Tricky =
    [
        "&", "=", "?", "#", "%", "%00", "%zz", "+", " ", "\"", "'", "\\", "/", "{\"1\":[\"a\",\"b\"]}", "[]", "token_auth=x",
        "&idsite=2", "&rec=0", "&cip=1.2.3.4", "<script>", "../", ";", ",", "*", "$", "@",
    ];

    private readonly Random _random = new(seed);

    public int Seed { get; } = seed;

    public int Next(int maxValue) => _random.Next(maxValue);

    /// <summary>Printable ASCII a client may put in a header, with characters that mean something in a query string or JSON.</summary>
    public string HeaderValue()
    {
        var length = _random.Next(10) switch
        {
            0 => 0,
            1 => 4000 + _random.Next(2000),
            2 => 1025 + _random.Next(100),
            _ => _random.Next(1, 200),
        };
        var builder = new StringBuilder(length + 16);
        while (builder.Length < length)
        {
            if (_random.Next(4) == 0)
            {
                builder.Append(Tricky[_random.Next(Tricky.Length)]);
            }
            else
            {
                builder.Append((char)_random.Next(0x21, 0x7F));
            }
        }

        return builder.ToString().Trim();
    }

    /// <summary>Any UTF-16 text: lone surrogates, control characters, NUL, non-BMP pairs, sometimes a megabyte.</summary>
    public string Text()
    {
        var kind = _random.Next(12);
        if (kind == 0)
        {
            return Megabyte;
        }

        var length = kind switch
        {
            1 => 0,
            2 => 1023 + _random.Next(4),
            3 => 199 + _random.Next(4),
            4 => 5000 + _random.Next(5000),
            _ => _random.Next(1, 64),
        };
        var builder = new StringBuilder(length + 2);
        while (builder.Length < length)
        {
            switch (_random.Next(8))
            {
                case 0:
                    builder.Append((char)_random.Next(0xD800, 0xE000)); // a lone (or accidentally paired) surrogate
                    break;
                case 1:
                    builder.Append((char)_random.Next(0, 0x20)); // control characters, NUL included
                    break;
                case 2:
                    builder.Append(char.ConvertFromUtf32(_random.Next(0x10000, 0x10FFFF) is var cp && cp is >= 0xD800 and < 0xE000 ? 0x1F600 : cp));
                    break;
                case 3:
                    builder.Append(Tricky[_random.Next(Tricky.Length)]);
                    break;
                case 4:
                    builder.Append((char)_random.Next(0x80, 0xD800));
                    break;
                default:
                    builder.Append((char)_random.Next(0x20, 0x7F));
                    break;
            }
        }

        // Sometimes cut a surrogate pair at the 200th or 1024th unit, where Matomo's limits would cut it.
        if (_random.Next(3) == 0 && builder.Length > 1030)
        {
            builder[199] = '\uD83D';
            builder[1023] = '\uD83D';
        }

        return builder.ToString();
    }
}
