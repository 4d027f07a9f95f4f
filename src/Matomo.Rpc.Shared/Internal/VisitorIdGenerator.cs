using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Derives 16-hex visitor ids from a caller key with a salt that rotates every UTC day: the same caller gets the
/// same id all day, and ids of different days cannot be linked without the salt.
/// </summary>
internal sealed class VisitorIdGenerator
{
    private readonly byte[] _secret;
    private (DateOnly Day, byte[] Key) _dayKey;

    public VisitorIdGenerator(string? salt)
    {
        _secret = string.IsNullOrEmpty(salt) ? RandomNumberGenerator.GetBytes(32) : Encoding.UTF8.GetBytes(salt);
    }

    public string Compute(DateTimeOffset timestamp, string? visitorKey, IPAddress? address, string? userAgent)
    {
        var key = KeyFor(DateOnly.FromDateTime(timestamp.UtcDateTime));
        var material = visitorKey is not null
            ? "k\n" + visitorKey
            : "a\n" + (address?.ToString() ?? string.Empty) + "\n" + (userAgent ?? string.Empty);
        Span<byte> hash = stackalloc byte[32];
        HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(material), hash);
        return Convert.ToHexStringLower(hash[..8]);
    }

    private byte[] KeyFor(DateOnly day)
    {
        var current = _dayKey;
        if (current.Key is not null && current.Day == day)
        {
            return current.Key;
        }

        var key = HMACSHA256.HashData(_secret, Encoding.UTF8.GetBytes(day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)));
        _dayKey = (day, key);
        return key;
    }
}
