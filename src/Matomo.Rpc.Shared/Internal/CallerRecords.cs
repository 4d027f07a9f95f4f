using System.Net;
using System.Runtime.CompilerServices;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The callers a tracker sees over and over, each as one shared <see cref="CallerRecord"/>: a backend's calls come from
/// few callers (a connection's requests carry the same headers, and Kestrel even hands them as the same string objects),
/// so the call's scope takes the record the previous call of that caller made instead of a copy of its fields, 64 bytes
/// less per tracked call. A record is reused only when every field is equal (strings by reference or value, the
/// address by value), so a call always records exactly the caller it was given; a caller that differs in any field gets
/// a record of its own, which replaces the slot's. Thread-safe without locks: records are immutable and published
/// whole, and a slot lost to a race only costs the next call of that caller a record.
/// </summary>
internal sealed class CallerRecords
{
    // A power of two; a backend's distinct callers at one time are usually far fewer.
    private const int SlotCount = 256;

    // The most characters of text a kept record may hold (all its strings together): 256 slots keep at most ~1 MB alive.
    private const int MaxKeptText = 2048;

    private readonly CallerRecord?[] _slots = new CallerRecord?[SlotCount];

    /// <summary>The shared record of <paramref name="caller"/>: the slot's when it holds an equal caller, else a new one (then in the slot).</summary>
    public CallerRecord Get(in MatomoCallerInfo caller)
    {
        ref var slot = ref _slots[SlotOf(caller) & (SlotCount - 1)];
        var record = Volatile.Read(ref slot);
        if (record is not null && Same(record.Info, caller))
        {
            return record;
        }

        record = new CallerRecord(caller);
        if (Keeps(caller))
        {
            Volatile.Write(ref slot, record);
        }

        return record;
    }

    /// <summary>
    /// Whether a caller's record may stay in a slot: not when its text is long (a huge user agent or referrer), so that
    /// what the slots keep alive stays small whatever callers send; such a caller gets a record per call, as before.
    /// </summary>
    internal static bool Keeps(in MatomoCallerInfo caller) =>
        (caller.UserAgent?.Length ?? 0) + (caller.Language?.Length ?? 0) + (caller.Referrer?.Length ?? 0) + (caller.Host?.Length ?? 0)
            + (caller.UserId?.Length ?? 0) + (caller.VisitorKey?.Length ?? 0) <= MaxKeptText;

    /// <summary>
    /// Chooses the slot from what is cheap to read and differs between callers: the lengths and last characters of the
    /// user agent and visitor key, and the address's own hash (cached in the address). Equal callers get equal slots.
    /// </summary>
    private static int SlotOf(in MatomoCallerInfo caller)
    {
        var userAgent = caller.UserAgent;
        var visitorKey = caller.VisitorKey ?? caller.UserId;
        var hash = caller.RemoteAddress?.GetHashCode() ?? 0;
        if (userAgent is { Length: > 0 })
        {
            hash = (hash * 31) + (userAgent.Length * 7) + userAgent[^1];
        }

        if (visitorKey is { Length: > 0 })
        {
            hash = (hash * 31) + visitorKey.Length + (visitorKey[^1] * 7) + visitorKey[0];
        }

        return hash ^ (hash >> 8) ^ (hash >> 16);
    }

    private static bool Same(in MatomoCallerInfo a, in MatomoCallerInfo b) =>
        a.OptedOut == b.OptedOut
        && SameText(a.UserAgent, b.UserAgent)
        && SameAddress(a.RemoteAddress, b.RemoteAddress)
        && SameText(a.VisitorKey, b.VisitorKey)
        && SameText(a.UserId, b.UserId)
        && SameText(a.Language, b.Language)
        && SameText(a.Referrer, b.Referrer)
        && SameText(a.Host, b.Host)
        && SameText(a.Scheme, b.Scheme);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SameText(string? a, string? b) => ReferenceEquals(a, b) || string.Equals(a, b, StringComparison.Ordinal);

    // By value: the record keeps the first call's address object, whose value is what every later equal call records.
    private static bool SameAddress(IPAddress? a, IPAddress? b) => ReferenceEquals(a, b) || (a is not null && a.Equals(b));
}
