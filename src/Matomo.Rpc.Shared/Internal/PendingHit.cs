using System.Text;
using Matomo.Rpc.Internal.Spool;

namespace Matomo.Rpc.Internal;

/// <summary>
/// A hit encoded once, ready to be sent: taken from the queue (with its <see cref="MatomoHit"/>) or read back from the
/// spool (without). Its query is either bytes in its batch's <see cref="HitBuffer"/> (the sender's own hits, and hits
/// read back from the spool) or a string (tests, a spooled query that is not plain ASCII). <see cref="Query"/> is the
/// one place the bytes become a string (log-only mode, the in-memory sink); the bulk body and the spool copy the bytes.
/// </summary>
internal sealed class PendingHit
{
    // One per hit the sender holds: the call's hit (a MatomoHit) or, for a hit read back from the spool, its time and
    // action (a SpoolOrigin), in one field; the time and the action are read from it rather than copied here, which
    // keeps the record of every live hit at 56 bytes (80 with them copied).
    private readonly object _origin;
    private readonly HitBuffer? _buffer;
    private readonly int _offset;
    private readonly int _length;
    private string? _query;

    public PendingHit(MatomoHit hit, string query, bool isCrash = false)
    {
        _origin = hit;
        _query = query;
        IsCrash = isCrash;
    }

    public PendingHit(MatomoHit hit, HitBuffer buffer, int offset, int length, bool isCrash = false)
    {
        _origin = hit;
        _buffer = buffer;
        _offset = offset;
        _length = length;
        IsCrash = isCrash;
    }

    /// <summary>A hit read back from the spool whose query is bytes in its batch's <paramref name="buffer"/>.</summary>
    public PendingHit(HitBuffer buffer, int offset, int length, DateTimeOffset timestamp, string action, bool isCrash)
    {
        _origin = new SpoolOrigin(timestamp, action);
        _buffer = buffer;
        _offset = offset;
        _length = length;
        IsCrash = isCrash;
    }

    private PendingHit(SpoolOrigin origin, string query, bool isCrash)
    {
        _origin = origin;
        _query = query;
        IsCrash = isCrash;
    }

    /// <summary>The call's hit; null for a hit read back from the spool (an earlier attempt, maybe an earlier process).</summary>
    public MatomoHit? Hit => _origin as MatomoHit;

    /// <summary>When the call ended (the hit's <c>cdt</c>): what delivery reads for the 24-hour rule of tokenless clients.</summary>
    public DateTimeOffset Timestamp => _origin is MatomoHit hit ? hit.Timestamp : ((SpoolOrigin)_origin).Timestamp;

    /// <summary>The action, for log lines about this hit.</summary>
    public string Action => _origin is MatomoHit hit ? hit.Action : ((SpoolOrigin)_origin).Action;

    /// <summary>
    /// The query string, starting with '?' as Matomo's bulk endpoint requires. Made from the bytes on first use (and kept):
    /// read it while the batch is not done, since the batch's buffer goes back to the pool then.
    /// </summary>
    public string Query => _query ??= Encoding.UTF8.GetString(_buffer!.Slice(_offset, _length));

    /// <summary>
    /// A Crash Analytics hit made from a call's hit: it rides on that call's place in the queue (see
    /// <see cref="HitQueue.Release"/>), so it does not free one when it leaves.
    /// </summary>
    public bool IsCrash { get; }

    /// <summary>
    /// A hit read back from the spool whose query is not plain ASCII (not this encoder's, e.g. a hand-edited file): a
    /// string, escaped when the bulk body is written. The spool's own hits go to disk and back as bytes (see
    /// <see cref="SpoolRecords"/>), never re-encoded.
    /// </summary>
    public static PendingHit FromSpooled(SpooledHit spooled) => new(new SpoolOrigin(spooled.Timestamp, spooled.Action), spooled.Query, spooled.Isolated);

    /// <summary>Whether the query carries the caller's IP (<c>cip</c>), which Matomo takes only with a token it accepts.</summary>
    public bool HasCip => TryGetUtf8(out var utf8) ? utf8.IndexOf("&cip="u8) >= 0 || utf8.StartsWith("?cip="u8) : Query.Contains("&cip=", StringComparison.Ordinal) || Query.StartsWith("?cip=", StringComparison.Ordinal);

    /// <summary>
    /// The same hit without <c>cip</c> (Matomo then records the sender's IP), for a Matomo that does not accept the token:
    /// with it, Matomo refuses the hit and counts the request as a failed login of this host. A new hit whose query is a
    /// string; its origin (call, time, action, crash) is kept.
    /// </summary>
    public PendingHit WithoutCip()
    {
        var query = Query;
        var builder = new StringBuilder(query.Length);
        foreach (var range in query.AsSpan(1).Split('&'))
        {
            var pair = query.AsSpan(1)[range];
            if (pair.IsEmpty || pair.StartsWith("cip=") || pair.SequenceEqual("cip"))
            {
                continue;
            }

            builder.Append(builder.Length == 0 ? '?' : '&').Append(pair);
        }

        return _origin is MatomoHit hit ? new PendingHit(hit, builder.Length == 0 ? "?" : builder.ToString(), IsCrash) : new PendingHit((SpoolOrigin)_origin, builder.Length == 0 ? "?" : builder.ToString(), IsCrash);
    }

    /// <summary>The query's UTF-8 bytes, when they are the encoder's (percent-encoded ASCII, JSON-safe as they are).</summary>
    internal bool TryGetUtf8(out ReadOnlySpan<byte> utf8)
    {
        if (_buffer is null)
        {
            utf8 = default;
            return false;
        }

        utf8 = _buffer.Slice(_offset, _length);
        return true;
    }

    /// <summary>What a hit read back from the spool keeps of its call besides its query.</summary>
    private sealed record SpoolOrigin(DateTimeOffset Timestamp, string Action);
}
