using System.Text;

namespace Matomo.Rpc.Internal;

/// <summary>
/// A hit encoded once, ready to be sent: its query is either bytes in its batch's <see cref="HitBuffer"/> (the
/// sender's own hits) or a string (a hit read back, e.g. from a spool). <see cref="Query"/> is the one place the
/// bytes become a string (log-only mode, the in-memory sink, a spool); the bulk body copies the bytes as they are.
/// </summary>
internal sealed class PendingHit
{
    private readonly HitBuffer? _buffer;
    private readonly int _offset;
    private readonly int _length;
    private string? _query;

    public PendingHit(MatomoHit hit, string query, bool isCrash = false)
    {
        Hit = hit;
        _query = query;
        IsCrash = isCrash;
    }

    public PendingHit(MatomoHit hit, HitBuffer buffer, int offset, int length, bool isCrash = false)
    {
        Hit = hit;
        _buffer = buffer;
        _offset = offset;
        _length = length;
        IsCrash = isCrash;
    }

    public MatomoHit Hit { get; }

    /// <summary>When the call ended (the hit's <c>cdt</c>): what delivery reads for the 24-hour rule of tokenless clients.</summary>
    public DateTimeOffset Timestamp => Hit.Timestamp;

    /// <summary>The action, for log lines about this hit.</summary>
    public string Action => Hit.Action;

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
}
