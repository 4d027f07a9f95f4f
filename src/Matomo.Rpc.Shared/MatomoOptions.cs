using Matomo.Rpc.Internal;
using Microsoft.Extensions.Options;

namespace Matomo.Rpc;

/// <summary>
/// Settings of Matomo tracking, bound from the <c>Matomo</c> configuration section and validated at start-up.
/// </summary>
public class MatomoOptions
{
    /// <summary>The configuration section these options are usually bound from.</summary>
    public const string SectionName = "Matomo";

    /// <summary>
    /// Matomo's tracking endpoint, e.g. <c>https://matomo.example.org/matomo.php</c>. A base URL such as
    /// <c>https://matomo.example.org/</c> gets <c>matomo.php</c> appended. Required unless <see cref="LogOnly"/> is set.
    /// </summary>
    public string? TrackerUrl { get; set; }

    /// <summary>The Matomo site id (<c>idsite</c>) hits are recorded for. Must be 1 or more.</summary>
    [MatomoRange(1, int.MaxValue, ErrorMessage = "Matomo:SiteId must be the id of a Matomo site (1 or more). Find it in Matomo under Administration > Websites > Manage.")]
    public int SiteId { get; set; }

    /// <summary>
    /// A token of a Matomo user with write access to the site. Optional; it enables sending the caller's IP
    /// (<c>cip</c>). Sent only in the body of the bulk request, never logged.
    /// </summary>
    public string? TokenAuth { get; set; }

    /// <summary>Allows sending <see cref="TokenAuth"/> over plain http to a host that is not loopback. Off by default.</summary>
    public bool AllowTokenOverHttp { get; set; }

    /// <summary>Writes each hit to the log (Information) instead of sending it. Needs no tracker URL.</summary>
    public bool LogOnly { get; set; }

    /// <summary>Tracked URLs use https whatever the request's scheme (the seed's <c>assume_https</c>). Default true.</summary>
    public bool AssumeHttps { get; set; } = true;

    /// <summary>
    /// Scheme and host of the tracked URLs, e.g. <c>https://api.example.org</c>. When unset, the request's host is used
    /// with the scheme from <see cref="AssumeHttps"/>.
    /// </summary>
    public string? BaseUrl { get; set; }

    /// <summary>Excludes the gRPC health and reflection services from tracking. Default true.</summary>
    public bool ExcludeGrpcInfrastructure { get; set; } = true;

    /// <summary>Action names never tracked, compared exactly (e.g. <c>greet.Greeter/SayHello</c>, a leading '/' is ignored). Tried before <see cref="ExcludedPatterns"/>.</summary>
    public List<string> ExcludedActions { get; set; } = [];

    /// <summary>Regular expressions; an action name that any of them matches is not tracked.</summary>
    public List<string> ExcludedPatterns { get; set; } = [];

    /// <summary>Regular expressions; a call whose user agent any of them matches is not tracked.</summary>
    public List<string> IgnoredUserAgentPatterns { get; set; } = [];

    /// <summary>Call kinds tracked; empty means all.</summary>
    public List<MatomoCallKind> AllowedCallKinds { get; set; } = [];

    /// <summary>Call kinds never tracked. Wins over <see cref="AllowedCallKinds"/>.</summary>
    public List<MatomoCallKind> IgnoredCallKinds { get; set; } = [];

    /// <summary>
    /// Per-action details (the seed's <c>route_details</c>): for an action name, Tracking API parameters added to
    /// its hits, e.g. <c>action_name</c> to rename it or <c>e_c</c>.
    /// </summary>
    public Dictionary<string, Dictionary<string, string>> ActionDetails { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Where outcome, call kind and the other built-in fields go. Default <see cref="MatomoRecording.CustomVariables"/>.</summary>
    public MatomoRecording Recording { get; set; } = MatomoRecording.CustomVariables;

    /// <summary>Number of action-scoped custom variable slots the Matomo site has (Matomo's default is 5).</summary>
    [MatomoRange(1, 50, ErrorMessage = "Matomo:CustomVariableSlots must be between 1 and 50: the number of custom variable slots of your Matomo (5 unless changed with the CustomVariables plugin's console command).")]
    public int CustomVariableSlots { get; set; } = 5;

    /// <summary>Custom dimension index of each built-in field, used when <see cref="Recording"/> includes custom dimensions.</summary>
    public MatomoDimensionOptions Dimensions { get; set; } = new();

    /// <summary>How callers are told apart. Default <see cref="MatomoVisitorIdentity.Hashed"/>.</summary>
    public MatomoVisitorIdentity VisitorIdentity { get; set; } = MatomoVisitorIdentity.Hashed;

    /// <summary>The request header carrying a caller-chosen visitor key, for <see cref="MatomoVisitorIdentity.Header"/>.</summary>
    public string? VisitorIdHeader { get; set; }

    /// <summary>
    /// Secret mixed into hashed visitor ids and user id pseudonyms (<see cref="MatomoUserIdOptions.Mode"/>). Set the same
    /// value on every replica so one caller gets one id across replicas and restarts; when unset, each process picks a
    /// random one.
    /// </summary>
    public string? VisitorIdSalt { get; set; }

    /// <summary>
    /// Bytes of the caller's IP zeroed before it is used: sent as <c>cip</c> and hashed into visitor ids (0 to 4; IPv6:
    /// 64, 80, 104 or 128 bits).
    /// </summary>
    [MatomoRange(0, 4, ErrorMessage = "Matomo:IpMaskBytes must be between 0 (send the whole IP) and 4 (send none of it).")]
    public int IpMaskBytes { get; set; }

    /// <summary>
    /// Sends <c>bots=1</c> so Matomo does not drop hits as bot traffic. Callers of an API are programs, and without a token
    /// every hit carries the server's own IP, often in a cloud range Matomo counts as bots. Default true.
    /// </summary>
    public bool TrackBots { get; set; } = true;

    /// <summary>
    /// Also sends <c>gt_ms</c>, with the same value as <c>pf_srv</c>, for Matomo 3 (Matomo 4 and later ignore it and read
    /// <c>pf_srv</c>). Default false.
    /// </summary>
    public bool SendGenerationTime { get; set; }

    /// <summary>
    /// Sends a separate Crash Analytics hit (<c>ca=1</c>, <c>cra</c>) for each failed call, alone in its request.
    /// Needs the premium Crash Analytics plugin; without it Matomo answers 500 for those hits. Default false.
    /// </summary>
    public bool TrackCrashes { get; set; }

    /// <summary>The check of the Matomo side at start-up.</summary>
    public MatomoCheckOptions Check { get; set; } = new();

    /// <summary>Batching, queueing, retries and shutdown.</summary>
    [ValidateObjectMembers]
    public MatomoSendingOptions Sending { get; set; } = new();

    /// <summary>Which part of the calls is tracked (all by default), per action too; failed calls are kept.</summary>
    public MatomoSamplingOptions Sampling { get; set; } = new();

    /// <summary>The directory that keeps hits on disk across Matomo outages, restarts and shutdowns. Off by default.</summary>
    public MatomoSpoolOptions Spool { get; set; } = new();

    /// <summary>Callers' opt-out (Sec-GPC, DNT) and what is cut from referrers.</summary>
    public MatomoPrivacyOptions Privacy { get; set; } = new();

    /// <summary>Where the user id comes from and whether it is sent as a pseudonym (the default) or as is.</summary>
    public MatomoUserIdOptions UserId { get; set; } = new();
}
