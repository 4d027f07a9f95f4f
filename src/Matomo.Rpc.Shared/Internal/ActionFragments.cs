using System.Runtime.CompilerServices;

namespace Matomo.Rpc.Internal;

/// <summary>
/// An action's <c>url</c> and <c>action_name</c>, percent-encoded, found without hashing the text they are made of.
/// The tracker keeps one <see cref="ActionInfo"/> per action, so the calls of an action share the same path and name
/// strings (and the scheme is one of two literals, the host a header value the server usually reuses): a slot, chosen
/// by the strings' identities, remembers those references and the bytes the value-keyed caches gave for them. Equal
/// references are equal text, so the bytes are the same ones; strings that are new objects of equal text miss here and
/// find their bytes in the value-keyed caches, as before. A slot is overwritten by the next action that maps to it.
/// Not thread-safe (one per encoder).
/// </summary>
internal sealed class ActionFragments
{
    // A server keeps a header's string per pooled stream, so a caller may come as a few sets of objects: room for many,
    // each slot made when first used.
    private const int SlotCount = 1024;

    private readonly Slot?[] _slots = new Slot?[SlotCount];
    private readonly EncodedCache<UrlKey> _urls = new(Limits.ActionCacheSize);
    private readonly EncodedCache<string> _names = new(Limits.ActionCacheSize);

    /// <summary>
    /// The slot holding the encoded <c>url</c> (<paramref name="url"/>, clipped to Matomo's limit) and
    /// <c>action_name</c> (<paramref name="actionName"/>); valid until the next call.
    /// </summary>
    public Slot Get(UrlKey url, string actionName)
    {
        var hash = HashCode.Combine(
            RuntimeHelpers.GetHashCode(url.Origin),
            RuntimeHelpers.GetHashCode(url.Host),
            RuntimeHelpers.GetHashCode(url.Path),
            RuntimeHelpers.GetHashCode(actionName));
        var slot = _slots[hash & (SlotCount - 1)] ??= new Slot();
        if (slot.Origin is not null && ReferenceEquals(slot.Path, url.Path) && ReferenceEquals(slot.ActionName, actionName)
            && ReferenceEquals(slot.Host, url.Host) && ReferenceEquals(slot.Origin, url.Origin))
        {
            return slot;
        }

        slot.Url = _urls.Get(url, url.Length, static k => TextSanitizer.Clip(k.Origin + k.Host + k.Path, Limits.Url));
        slot.Name = _names.Get(actionName, actionName.Length, static name => name);

        // Text too long to cache by value is not remembered here either (nor its strings kept alive).
        var cacheable = EncodedCache<string>.Caches(url.Length) && EncodedCache<string>.Caches(actionName.Length);
        slot.Origin = cacheable ? url.Origin : null;
        slot.Host = cacheable ? url.Host : null;
        slot.Path = cacheable ? url.Path : null;
        slot.ActionName = cacheable ? actionName : null;
        return slot;
    }

    internal sealed class Slot
    {
        public string? Origin { get; set; }

        public string? Host { get; set; }

        public string? Path { get; set; }

        public string? ActionName { get; set; }

        /// <summary>The URL, clipped and percent-encoded.</summary>
        public byte[] Url { get; set; } = [];

        /// <summary>The action name, percent-encoded.</summary>
        public byte[] Name { get; set; } = [];
    }
}
