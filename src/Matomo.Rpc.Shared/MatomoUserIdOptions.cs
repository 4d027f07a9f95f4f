using System.Security.Claims;

namespace Matomo.Rpc;

/// <summary>Where the user id comes from and how it is sent (the <c>Matomo:UserId</c> section).</summary>
public class MatomoUserIdOptions
{
    /// <summary>
    /// How every <c>uid</c> leaves the process: the one read from the signed-in user, one set per call with
    /// <c>SetMatomoVar("uid", ...)</c> and one set in <see cref="MatomoOptions.ActionDetails"/>. Default
    /// <see cref="MatomoUserIdMode.Pseudonym"/>.
    /// </summary>
    public MatomoUserIdMode Mode { get; set; } = MatomoUserIdMode.Pseudonym;

    /// <summary>
    /// The claim type read as the user id with <see cref="MatomoVisitorIdentity.UserId"/>, e.g. <c>sub</c> or
    /// <c>http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress</c>. Unset (the default): SignalR uses the
    /// connection's <c>Context.UserIdentifier</c> (the app's <c>IUserIdProvider</c>); otherwise the
    /// <see cref="ClaimTypes.NameIdentifier"/> claim, then <c>Identity.Name</c>.
    /// </summary>
    public string? Claim { get; set; }
}
