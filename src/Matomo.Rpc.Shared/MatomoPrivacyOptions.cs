namespace Matomo.Rpc;

/// <summary>What the tracker keeps from Matomo to respect callers' privacy (the <c>Matomo:Privacy</c> section).</summary>
public class MatomoPrivacyOptions
{
    /// <summary>
    /// Does not track a call whose request carries <c>Sec-GPC: 1</c> (Global Privacy Control) or <c>DNT: 1</c> (Do Not
    /// Track), as Matomo does for browsers; such calls are counted (<c>matomo.rpc.hits.opted_out</c>,
    /// <see cref="MatomoStatistics.OptedOut"/>), never logged one by one. For SignalR the headers of the connection's
    /// request decide for all of its invocations. Default true.
    /// </summary>
    public bool HonorOptOut { get; set; } = true;

    /// <summary>
    /// Sends the caller's <c>Referer</c> (<c>urlref</c>) with its query string and fragment. Off by default: a query
    /// string often carries personal data (e-mail addresses, tokens, search terms), so only scheme, host and path are sent.
    /// </summary>
    public bool KeepReferrerQuery { get; set; }
}
