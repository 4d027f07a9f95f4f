using System.Net;

namespace Matomo.Rpc;

/// <summary>Who made a call, as read from the request by an adapter (see <see cref="MatomoTracker.ReadCaller(Microsoft.AspNetCore.Http.HttpContext)"/>).</summary>
public readonly record struct MatomoCallerInfo
{
    /// <summary>The caller's address, as ASP.NET Core sees it (after the forwarded-headers middleware, when used).</summary>
    public IPAddress? RemoteAddress { get; init; }

    /// <summary>The caller's <c>User-Agent</c> header.</summary>
    public string? UserAgent { get; init; }

    /// <summary>The caller's <c>Accept-Language</c> header.</summary>
    public string? Language { get; init; }

    /// <summary>The caller's <c>Referer</c> header.</summary>
    public string? Referrer { get; init; }

    /// <summary>The request's host (with port), used for the tracked URL unless <see cref="MatomoOptions.BaseUrl"/> is set.</summary>
    public string? Host { get; init; }

    /// <summary>The request's scheme, used when <see cref="MatomoOptions.AssumeHttps"/> is off.</summary>
    public string? Scheme { get; init; }

    /// <summary>
    /// The authenticated user's id (see <see cref="MatomoUserIdOptions.Claim"/>), sent as <c>uid</c> with
    /// <see cref="MatomoVisitorIdentity.UserId"/>: as a pseudonym unless <see cref="MatomoUserIdOptions.Mode"/> is
    /// <see cref="MatomoUserIdMode.Plain"/>.
    /// </summary>
    public string? UserId { get; init; }

    /// <summary>
    /// A key that identifies one caller (a SignalR connection id, or the visitor header's value); when set, hashed
    /// visitor ids are derived from it instead of the address and user agent.
    /// </summary>
    public string? VisitorKey { get; init; }

    /// <summary>
    /// The caller asked not to be tracked (<c>Sec-GPC: 1</c> or <c>DNT: 1</c>, with
    /// <see cref="MatomoPrivacyOptions.HonorOptOut"/> on), or the app opted it out. A call with such a caller is not
    /// tracked: <c>MatomoTracker.StartCall</c> with the caller returns null
    /// and <see cref="MatomoCallScope.SetCaller"/> ends the call without a hit; either counts it as opted out.
    /// </summary>
    public bool OptedOut { get; init; }
}
