namespace Matomo.Rpc.TestSupport;

/// <summary>What the stand-in's valid token may do on the site.</summary>
public enum MatomoTokenAccess
{
    /// <summary>Authenticates, but no access to the site.</summary>
    None,

    /// <summary>View access: not enough for <c>cip</c> or old <c>cdt</c>.</summary>
    View,

    /// <summary>Write access to the site.</summary>
    Write,

    /// <summary>Admin access to the site.</summary>
    Admin,

    /// <summary>Super user: admin everywhere, listed in no "write" list.</summary>
    SuperUser,
}
