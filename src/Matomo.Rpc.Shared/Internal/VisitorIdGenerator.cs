using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Derives 16-hex visitor ids from a caller key with a salt that rotates every UTC day: the same caller gets the
/// same id all day, and ids of different days cannot be linked without the salt. Also derives user id pseudonyms, which
/// do not rotate (a user id is meant to follow a user across days): 32 hex of HMAC-SHA256 under a key derived from the
/// salt, so the same salt gives the same pseudonym on every replica and after restarts.
/// Not thread-safe: one per encoder (the sender's thread).
/// </summary>
internal sealed class VisitorIdGenerator
{
    // Backends see the same few callers over and over: remembering their ids for the day saves an HMAC per hit.
    private const int CacheSize = 4096;

    private readonly byte[] _secret;
    private readonly Dictionary<(string? Key, IPAddress? Address, string? UserAgent), string> _cache = [];
    private DateOnly _day;
    private IncrementalHash? _hmac;
    private readonly Dictionary<string, string> _pseudonyms = new(StringComparer.Ordinal);
    private byte[] _buffer = new byte[256];
    private IncrementalHash? _userHmac;

    public VisitorIdGenerator(string? salt)
    {
        _secret = string.IsNullOrEmpty(salt) ? RandomNumberGenerator.GetBytes(32) : Encoding.UTF8.GetBytes(salt);
    }

    /// <summary>HMAC-SHA256 of the day key over "k\n{visitorKey}" or "a\n{address}\n{userAgent}", first 8 bytes as hex.</summary>
    public string Compute(DateTimeOffset timestamp, string? visitorKey, IPAddress? address, string? userAgent)
    {
        // The HMAC is reused across hits (reset by GetHashAndReset) and the material is fed in UTF-8 pieces: the same
        // bytes as hashing the concatenated string, without building it or creating an HMAC context per hit.
        var hmac = HmacFor(DateOnly.FromDateTime(timestamp.UtcDateTime));
        (string? Key, IPAddress? Address, string? UserAgent) caller = visitorKey is not null ? (visitorKey, null, null) : (null, address, userAgent);
        if (_cache.TryGetValue(caller, out var id))
        {
            return id;
        }

        if (visitorKey is not null)
        {
            Append(hmac, "k\n");
            Append(hmac, visitorKey);
        }
        else
        {
            Append(hmac, "a\n");
            if (address is not null)
            {
                Span<char> text = stackalloc char[64];
                if (address.TryFormat(text, out var written))
                {
                    Append(hmac, text[..written]);
                }
                else
                {
                    Append(hmac, address.ToString());
                }
            }

            Append(hmac, "\n");
            Append(hmac, userAgent);
        }

        Span<byte> hash = stackalloc byte[32];
        hmac.GetHashAndReset(hash);
        id = Convert.ToHexStringLower(hash[..8]);
        if (_cache.Count >= CacheSize)
        {
            _cache.Clear();
        }

        _cache[caller] = id;
        return id;
    }

    /// <summary>The pseudonym of a user id: HMAC-SHA256 under HMAC(salt, "uid") over the user id's UTF-8, first 16 bytes as hex.</summary>
    public string Pseudonym(string userId)
    {
        if (_pseudonyms.TryGetValue(userId, out var pseudonym))
        {
            return pseudonym;
        }

        // "uid" can never be a day ("yyyy-MM-dd"), so this key is apart from the daily visitor id keys.
        _userHmac ??= IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, HMACSHA256.HashData(_secret, "uid"u8));
        Append(_userHmac, userId);
        Span<byte> hash = stackalloc byte[32];
        _userHmac.GetHashAndReset(hash);
        pseudonym = Convert.ToHexStringLower(hash[..16]);
        if (_pseudonyms.Count >= CacheSize)
        {
            _pseudonyms.Clear();
        }

        _pseudonyms[userId] = pseudonym;
        return pseudonym;
    }

    private IncrementalHash HmacFor(DateOnly day)
    {
        if (_hmac is not null && _day == day)
        {
            return _hmac;
        }

        var key = HMACSHA256.HashData(_secret, Encoding.UTF8.GetBytes(day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)));
        _hmac?.Dispose();
        _cache.Clear();
        _hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        _day = day;
        return _hmac;
    }

    private void Append(IncrementalHash hmac, ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (_buffer.Length < max)
        {
            _buffer = new byte[Math.Max(max, _buffer.Length * 2)];
        }

        var count = Encoding.UTF8.GetBytes(text, _buffer);
        hmac.AppendData(_buffer, 0, count);
    }
}
