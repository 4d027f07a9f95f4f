namespace Matomo.Rpc;

/// <summary>How callers are told apart in Matomo, so that they do not all merge into one visit.</summary>
public enum MatomoVisitorIdentity
{
    /// <summary>
    /// No visitor id is sent: Matomo groups hits by its own fingerprint of IP, user agent and language.
    /// Without a token (no <c>cip</c>), every caller shares the server's IP and most callers merge into one visit.
    /// </summary>
    None = 0,

    /// <summary>
    /// A 16-hex visitor id (<c>cid</c>) derived from the caller's address and user agent (for SignalR: the
    /// connection) with a salt that rotates every UTC day, so a caller cannot be followed across days.
    /// This is the default.
    /// </summary>
    Hashed = 1,

    /// <summary>
    /// The authenticated user's name as Matomo's user id (<c>uid</c>); anonymous callers fall back to
    /// <see cref="Hashed"/>. The user name is sent to Matomo as is.
    /// </summary>
    UserId = 2,

    /// <summary>
    /// A visitor id derived from a header the caller sends (<see cref="MatomoOptions.VisitorIdHeader"/>);
    /// callers without the header fall back to <see cref="Hashed"/>.
    /// </summary>
    Header = 3,
}
