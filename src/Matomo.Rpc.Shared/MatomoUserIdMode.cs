namespace Matomo.Rpc;

/// <summary>How a user id (<c>uid</c>) is sent to Matomo.</summary>
public enum MatomoUserIdMode
{
    /// <summary>
    /// A pseudonym: 32 hex characters of a keyed hash (HMAC-SHA256) of the user id with
    /// <see cref="MatomoOptions.VisitorIdSalt"/>. Matomo tells users apart without learning who they are; the same user
    /// gets the same pseudonym on every replica and after restarts when the salt is set. This is the default.
    /// </summary>
    Pseudonym = 0,

    /// <summary>The user id as is: names or e-mail addresses become visible in Matomo's reports.</summary>
    Plain = 1,
}
