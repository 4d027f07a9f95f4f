using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Matomo.Rpc.Internal;

/// <summary>
/// What a hit says about its caller, kept together per caller: the percent-encoded <c>ua</c>, <c>lang</c> and
/// <c>cip</c>, and the day's visitor id (<c>cid</c>). A backend sees the same callers over and over, and the server
/// hands their header values as the same string objects from call to call (Kestrel reuses a connection's header strings
/// while they do not change): a slot, chosen by those strings' identities and the address's value, is found without
/// hashing the user agent's text. Equal references are equal text and the address is compared by value (an
/// <see cref="IPAddress"/> can be changed in place), so a slot's bytes are the ones the value-keyed caches and the
/// <see cref="VisitorIdGenerator"/> give; the visitor id is kept with its UTC day and computed again on another day.
/// Callers whose strings are new objects fall through to the value-keyed caches, as before. Not thread-safe (one per
/// encoder).
/// </summary>
internal sealed class CallerFragments
{
    // Callers a backend sees over and over; a value is cached only when it is not longer than Matomo keeps.
    private const int CacheSize = 1024;
    // A server keeps a header's string per pooled stream, so a caller may come as a few sets of objects: room for many,
    // each slot made when first used.
    private const int SlotCount = 1024;

    private readonly Slot?[] _slots = new Slot?[SlotCount];
    private readonly EncodedCache<string> _userAgents = new(CacheSize);
    private readonly EncodedCache<string> _languages = new(CacheSize);
    private readonly EncodedCache<IPAddress> _addresses = new(CacheSize);
    private readonly VisitorIdGenerator _visitorIds;
    private readonly int _ipMaskBytes;
    private readonly Func<IPAddress, string> _maskedText;

    public CallerFragments(VisitorIdGenerator visitorIds, int ipMaskBytes)
    {
        _visitorIds = visitorIds;
        _ipMaskBytes = ipMaskBytes;
        _maskedText = address => HitEncoder.Mask(address, _ipMaskBytes).ToString();
    }

    /// <summary>The slot of <paramref name="caller"/>, filled with its <c>ua</c> and <c>lang</c>; valid until the next call.</summary>
    public Slot Get(in MatomoCallerInfo caller)
    {
        var address = AddressValue.Of(caller.RemoteAddress);
        var hash = HashCode.Combine(
            RuntimeHelpers.GetHashCode(caller.UserAgent),
            RuntimeHelpers.GetHashCode(caller.Language),
            RuntimeHelpers.GetHashCode(caller.VisitorKey),
            address);
        var slot = _slots[hash & (SlotCount - 1)] ??= new Slot();
        if (slot.Filled && ReferenceEquals(slot.UserAgent, caller.UserAgent) && ReferenceEquals(slot.Language, caller.Language)
            && ReferenceEquals(slot.VisitorKey, caller.VisitorKey) && slot.Address == address)
        {
            return slot;
        }

        var userAgent = caller.UserAgent;
        var language = caller.Language;
        slot.Ua = string.IsNullOrEmpty(userAgent) ? null : _userAgents.Get(userAgent, userAgent.Length, static v => TextSanitizer.Clip(v, Limits.ParameterValue));
        slot.Lang = string.IsNullOrEmpty(language) ? null : _languages.Get(language, language.Length, static v => TextSanitizer.Clip(v, Limits.ParameterValue));
        slot.Cip = null;
        slot.Cid = null;

        // A value too long to cache by value is not remembered here either (nor its string kept alive).
        slot.Filled = EncodedCache<string>.Caches(userAgent?.Length ?? 0) && EncodedCache<string>.Caches(language?.Length ?? 0)
            && EncodedCache<string>.Caches(caller.VisitorKey?.Length ?? 0);
        slot.UserAgent = slot.Filled ? userAgent : null;
        slot.Language = slot.Filled ? language : null;
        slot.VisitorKey = slot.Filled ? caller.VisitorKey : null;
        slot.Address = address;
        return slot;
    }

    /// <summary>The caller's visitor id for <paramref name="timestamp"/>'s UTC day (<see cref="VisitorIdGenerator.Compute"/>).</summary>
    public string Cid(Slot slot, in MatomoCallerInfo caller, DateTimeOffset timestamp)
    {
        var day = DateOnly.FromDateTime(timestamp.UtcDateTime);
        if (slot.Cid is { } cid && slot.CidDay == day)
        {
            return cid;
        }

        // Masked first: an id hashed from the whole address would tell apart what IpMaskBytes merges.
        var hashed = caller.VisitorKey is null && caller.RemoteAddress is { } remote && _ipMaskBytes > 0
            ? HitEncoder.Mask(remote, _ipMaskBytes)
            : caller.RemoteAddress;
        cid = _visitorIds.Compute(timestamp, caller.VisitorKey, hashed, caller.UserAgent);
        slot.Cid = cid;
        slot.CidDay = day;
        return cid;
    }

    /// <summary>The caller's address as sent in <c>cip</c> (masked by <see cref="MatomoOptions.IpMaskBytes"/>), percent-encoded.</summary>
    public byte[] Cip(Slot slot, IPAddress address) => slot.Cip ??= _addresses.Get(address, 0, _maskedText);

    internal sealed class Slot
    {
        /// <summary>Whether the slot belongs to the caller its fields name (false: never matched, always refilled).</summary>
        public bool Filled { get; set; }

        public string? UserAgent { get; set; }

        public string? Language { get; set; }

        public string? VisitorKey { get; set; }

        public AddressValue Address { get; set; }

        /// <summary>The user agent, clipped and percent-encoded; null when the caller sent none.</summary>
        public byte[]? Ua { get; set; }

        /// <summary>The language, clipped and percent-encoded; null when the caller sent none.</summary>
        public byte[]? Lang { get; set; }

        public byte[]? Cip { get; set; }

        public string? Cid { get; set; }

        public DateOnly CidDay { get; set; }
    }

    /// <summary>An address's value (its bytes and IPv6 scope), compared without a reference to the mutable object.</summary>
    internal readonly record struct AddressValue(UInt128 Bytes, int Length, long ScopeId)
    {
        public static AddressValue Of(IPAddress? address)
        {
            if (address is null)
            {
                return default;
            }

            Span<byte> bytes = stackalloc byte[16];
            bytes.Clear();
            address.TryWriteBytes(bytes, out var length);
            var scope = address.AddressFamily == AddressFamily.InterNetworkV6 ? address.ScopeId : 0;
            return new(BinaryPrimitives.ReadUInt128LittleEndian(bytes), length, scope);
        }
    }
}
