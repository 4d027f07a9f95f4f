using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Matomo.Rpc.Internal;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc;

/// <summary>
/// Checks the Matomo side through its Reporting API before trusting it: reachability and version, the site, the
/// token's rights, the mapped custom dimensions, the CustomVariables plugin and QueuedTracking. Matomo accepts hits it
/// then drops or misfiles silently; this says so in plain words. Runs at start-up in the background (see
/// <see cref="MatomoCheckOptions"/>) and on demand with <see cref="RunAsync"/>.
/// </summary>
public sealed partial class MatomoSiteCheck
{
    private const string QueuedTrackingMeaning =
        "matomo.php answers every request, bulk included, with the single-hit answer and no per-hit count, so Matomo reports nothing per hit "
        + "(hits count as sent once Matomo takes the request); hits reach the reports only once the queue is processed; and a hit Matomo "
        + "refuses while the queue is processed silently drops itself and every later hit of the same request.";

    private readonly MatomoOptions _options;
    private readonly IHttpClientFactory _clients;
    private readonly TrackingState _state;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    internal MatomoSiteCheck(MatomoOptions options, IHttpClientFactory clients, TrackingState state, TimeProvider time, ILogger<MatomoSiteCheck> logger)
    {
        _options = options;
        _clients = clients;
        _state = state;
        _time = time;
        _logger = logger;
    }

    /// <summary>The report of the last check, or null before the first one finished.</summary>
    public MatomoCheckReport? LastReport => _state.LastReport;

    /// <summary>
    /// Runs the check (bounded by <see cref="MatomoCheckOptions.Timeout"/>), logs each finding (Warning for data loss,
    /// Information otherwise) and returns the report. When the token lacks write access to the site, stops sending
    /// <c>cip</c> so that Matomo keeps the hits. Never throws for what Matomo answers.
    /// </summary>
    public async Task<MatomoCheckReport> RunAsync(CancellationToken cancellationToken = default)
    {
        var findings = new List<MatomoCheckFinding>();
        string? version = null;
        var endpoint = _options.LogOnly || string.IsNullOrEmpty(_options.TrackerUrl)
            ? null
            : MatomoOptionsValidator.ResolveEndpoint(_options.TrackerUrl, out _);

        if (endpoint is null)
        {
            findings.Add(new(MatomoCheckSeverity.Advice, "log-only", "Log-only mode (Matomo:LogOnly, or no Matomo:TrackerUrl): nothing is sent to Matomo, so there is nothing to check."));
        }
        else
        {
            using var timeout = new CancellationTokenSource(_options.Check.Timeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            var api = new ReportingApi(_clients.CreateClient(MatomoTracker.HttpClientName), endpoint, _options.TokenAuth);
            try
            {
                version = await CheckAsync(api, endpoint, findings, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Matomo:Check:Timeout, or the Matomo HttpClient's own timeout when it is shorter.
                findings.Add(new(MatomoCheckSeverity.DataLoss, "unreachable", $"Matomo did not answer in time (Matomo:Check:Timeout is {_options.Check.Timeout}). Hits are queued and retried, and dropped once the queue is full; check Matomo:TrackerUrl and the network."));
            }
            catch (HttpRequestException ex)
            {
                findings.Add(new(MatomoCheckSeverity.DataLoss, "unreachable", $"Matomo at {Describe(endpoint)} cannot be reached ({Reason(ex)}). Hits are queued and retried, and dropped once the queue is full; check Matomo:TrackerUrl and the network."));
            }
        }

        // The report is kept (health data, LastReport) and printed: it must not carry the token either.
        var redacted = findings.Select(f => new MatomoCheckFinding(f.Severity, f.Code, Redact(f.Message))).ToList();
        var report = new MatomoCheckReport(endpoint is null ? "(log-only)" : Describe(endpoint), version is null ? null : Redact(version), redacted, _time.GetUtcNow());
        _state.LastReport = report;
        foreach (var finding in redacted)
        {
            if (finding.Severity == MatomoCheckSeverity.DataLoss)
            {
                Log.CheckDataLoss(_logger, finding.Code, finding.Message);
            }
            else
            {
                Log.CheckFine(_logger, finding.Code, finding.Message);
            }
        }

        return report;
    }

    private async Task<string?> CheckAsync(ReportingApi api, Uri endpoint, List<MatomoCheckFinding> findings, CancellationToken cancellationToken)
    {
        var site = _options.SiteId.ToString(CultureInfo.InvariantCulture);
        if (string.IsNullOrEmpty(_options.TokenAuth))
        {
            // A GET stores nothing and every Matomo answers it; an empty bulk request would tell QueuedTracking apart,
            // but without a token nothing else is asked either (the sender recognises QueuedTracking's answers itself).
            var status = await api.PingTrackerAsync(cancellationToken).ConfigureAwait(false);
            findings.Add(status is >= 200 and < 300
                ? new(MatomoCheckSeverity.Ok, "reachable", $"Matomo answers at {Describe(endpoint)}.")
                : new(MatomoCheckSeverity.DataLoss, "tracker-status", $"{Describe(endpoint)} answers HTTP {status}: it does not look like Matomo's matomo.php. Check Matomo:TrackerUrl."));
            findings.Add(new(MatomoCheckSeverity.Advice, "no-token", "No Matomo:TokenAuth: the site, custom dimensions and plugins cannot be checked, and callers' IPs are not sent (Matomo sees the server's IP for every hit)."));
            return null;
        }

        var versionAnswer = await api.CallAsync("API.getMatomoVersion", [], cancellationToken).ConfigureAwait(false);
        if (versionAnswer.Kind == AnswerKind.Unexpected && versionAnswer.Status == 500)
        {
            // Matomo's brute-force detection: its API answers with an error page, its tracker refuses every request with a
            // token (except with QueuedTracking's queue on, which takes them all the same: then only Matomo's words tell).
            // Nothing can be checked, and nothing is known about the token: cip stays as it is.
            var trackerBlocked = await api.ProbeBlockedAsync(_options.SiteId, cancellationToken).ConfigureAwait(false);
            if (trackerBlocked || (versionAnswer.Message?.Contains("failed login", StringComparison.OrdinalIgnoreCase) ?? false))
            {
                _state.SetHostBlocked(trackerBlocked);
                var tracking = trackerBlocked
                    ? "it refuses every Reporting API call and every tracking request that carries a token (HTTP 500), so nothing else could be checked, and hits are kept and retried until the block is lifted (dropped once the queue is full)"
                    : "it refuses every Reporting API call, so nothing else could be checked (matomo.php still takes hits)";
                findings.Add(new(MatomoCheckSeverity.DataLoss, "host-blocked", $"Matomo's brute-force detection blocks this host's IP (Matomo: \"{versionAnswer.Message}\"): {tracking}. Nobody can log in to Matomo from this IP either. A Matomo super user can unblock the IP under Administration > System > General settings > Login (or with the API method Login.unblockBruteForceIPs), or allow-list it there; and fix what causes the failed logins: a wrong Matomo:TokenAuth, here or on another host behind the same IP (Matomo blocks an IP after more than 20 failed logins within an hour)."));
                return null;
            }
        }

        if (versionAnswer.Kind is AnswerKind.Value or AnswerKind.ApiError or AnswerKind.NoAccess or AnswerKind.TokenRejected
            && _state.HostBlocked && _state.SetHostBlocked(false))
        {
            // Matomo's API answered in its own words: this IP is not blocked (any more), whether or not hits wait to tell.
            Log.HostUnblocked(_logger);
        }

        if (versionAnswer.Kind == AnswerKind.TokenRejected)
        {
            _state.TokenTrusted = false;
            findings.Add(new(MatomoCheckSeverity.DataLoss, "token-rejected", $"Matomo does not accept Matomo:TokenAuth ({versionAnswer.Message}): with it, every hit carrying the caller's IP (cip) would be rejected. cip is no longer sent, so hits are kept without callers' IPs. Create a token under Administration > Personal > Security > Auth tokens for a user with write access to the site."));
            return null;
        }

        if (versionAnswer.Kind == AnswerKind.NoAccess)
        {
            _state.TokenTrusted = false;
            findings.Add(new(MatomoCheckSeverity.DataLoss, "token-rights", $"Matomo accepts Matomo:TokenAuth, but its user has no access to any website (Matomo: \"{versionAnswer.Message}\"): Matomo would reject every hit carrying the caller's IP (cip). cip is no longer sent, so hits are kept without callers' IPs; the site, dimensions and plugins cannot be checked. Give the user write access to site {site} under Administration > System > Users."));
            return null;
        }

        string? version = null;
        if (versionAnswer.Kind == AnswerKind.Value && Text(Property(versionAnswer.Json, "value")) is { Length: > 0 } versionText)
        {
            version = versionText;
            var major = int.TryParse(version.Split('.')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? m : 0;
            findings.Add(major >= 4 && _options.SendGenerationTime
                ? new(MatomoCheckSeverity.Advice, "gt-ms-ignored", $"Matomo {version} ignores gt_ms (since Matomo 4); the duration is stored from pf_srv. Set Matomo:SendGenerationTime to false to stop sending gt_ms.")
                : new(MatomoCheckSeverity.Ok, "version", $"Matomo {version} answers at {Describe(endpoint)}."));
        }
        else
        {
            findings.Add(new(MatomoCheckSeverity.Advice, "version-unknown", $"Matomo's version could not be read ({versionAnswer.Describe()})."));
        }

        var siteAnswer = await api.CallAsync("SitesManager.getSiteFromId", [new("idSite", site)], cancellationToken).ConfigureAwait(false);
        var siteFound = siteAnswer.Kind == AnswerKind.Value && siteAnswer.Json.ValueKind == JsonValueKind.Object;
        if (siteFound)
        {
            var siteName = Text(Property(siteAnswer.Json, "name"));
            findings.Add(new(MatomoCheckSeverity.Ok, "site", $"Site {site}{(string.IsNullOrEmpty(siteName) ? string.Empty : " (" + siteName + ")")} exists."));
        }
        else if (siteAnswer.Kind is AnswerKind.ApiError or AnswerKind.NoAccess)
        {
            findings.Add(new(MatomoCheckSeverity.DataLoss, "site-missing", $"Site {site} does not exist in Matomo or the token's user cannot see it (Matomo: \"{siteAnswer.Message}\"): Matomo rejects every hit for a site that does not exist. Set Matomo:SiteId to the ID shown under Administration > Websites > Manage, and give the token's user write access to it."));
        }
        else
        {
            findings.Add(new(MatomoCheckSeverity.Advice, "site-unchecked", $"Site {site} could not be checked ({siteAnswer.Describe()})."));
        }

        // Rights decide whether cip may be sent, so they are read even when the site could not be; but a finding about
        // rights on a site that does not exist would say nothing true.
        await CheckRightsAsync(api, site, siteFound || siteAnswer.Kind is not (AnswerKind.ApiError or AnswerKind.NoAccess), findings, cancellationToken).ConfigureAwait(false);
        if (siteFound)
        {
            if (_options.Recording.HasFlag(MatomoRecording.CustomDimensions))
            {
                await CheckDimensionsAsync(api, site, findings, cancellationToken).ConfigureAwait(false);
            }

            if (_options.Recording.HasFlag(MatomoRecording.CustomVariables))
            {
                await CheckCustomVariablesAsync(api, site, findings, cancellationToken).ConfigureAwait(false);
            }
        }

        await CheckQueuedTrackingAsync(api, endpoint, findings, cancellationToken).ConfigureAwait(false);
        return version;
    }

    private async Task CheckRightsAsync(ReportingApi api, string site, bool report, List<MatomoCheckFinding> findings, CancellationToken cancellationToken)
    {
        var write = await api.CallAsync("SitesManager.getSitesIdWithWriteAccess", [], cancellationToken).ConfigureAwait(false);
        var admin = await api.CallAsync("SitesManager.getSitesIdWithAdminAccess", [], cancellationToken).ConfigureAwait(false);
        var super = await api.CallAsync("UsersManager.hasSuperUserAccess", [], cancellationToken).ConfigureAwait(false);
        var hasRights = ContainsSite(write, site) || ContainsSite(admin, site)
            || (super.Kind == AnswerKind.Value && Property(super.Json, "value").ValueKind == JsonValueKind.True);
        _state.TokenTrusted = hasRights;
        if (!report)
        {
            return;
        }

        findings.Add(hasRights
            ? new(MatomoCheckSeverity.Ok, "token-rights", $"The token may record callers' IPs (cip) and past times (cdt) for site {site}.")
            : new(MatomoCheckSeverity.DataLoss, "token-rights", $"The token's user has neither write nor admin access to site {site} and is not a super user: Matomo would reject every hit carrying the caller's IP (cip). cip is no longer sent, so hits are kept without callers' IPs. Give the user write access under Administration > System > Users, or use another token in Matomo:TokenAuth."));
    }

    private async Task CheckDimensionsAsync(ReportingApi api, string site, List<MatomoCheckFinding> findings, CancellationToken cancellationToken)
    {
        var answer = await api.CallAsync("CustomDimensions.getConfiguredCustomDimensions", [new("idSite", site)], cancellationToken).ConfigureAwait(false);
        if (answer.Kind == AnswerKind.ApiError && SaysPluginInactive(answer.Message))
        {
            findings.Add(new(MatomoCheckSeverity.DataLoss, "dimensions-unavailable", $"Matomo's custom dimensions cannot be used (Matomo: \"{answer.Message}\"): every mapped dimension is dropped. Activate the CustomDimensions plugin under Administration > Plugins."));
            return;
        }

        if (answer.Kind != AnswerKind.Value || answer.Json.ValueKind != JsonValueKind.Array)
        {
            findings.Add(new(MatomoCheckSeverity.Advice, "dimensions-unchecked", $"Matomo's custom dimensions could not be read ({answer.Describe()}), so Matomo:Dimensions could not be checked. Make sure each mapped ID is an active, action-scoped dimension of site {site}."));
            return;
        }

        var d = _options.Dimensions;
        foreach (var (field, id) in new (string, int?)[] { ("Outcome", d.Outcome), ("CallKind", d.CallKind), ("Messages", d.Messages), ("Error", d.Error), ("Transport", d.Transport) })
        {
            if (id is not { } n)
            {
                continue;
            }

            var wanted = n.ToString(CultureInfo.InvariantCulture);
            JsonElement? found = null;
            foreach (var dimension in answer.Json.EnumerateArray())
            {
                if (Text(Property(dimension, "idcustomdimension")) == wanted)
                {
                    found = dimension;
                    break;
                }
            }

            var key = $"Matomo:Dimensions:{field}";
            if (found is not { } dim)
            {
                findings.Add(new(MatomoCheckSeverity.DataLoss, "dimension-missing", $"{key} is {n} but site {site} has no custom dimension with ID {n}: the value is dropped. Create an action-scoped dimension under Administration > Websites > Custom Dimensions and put its ID in {key}."));
                continue;
            }

            var scope = Text(Property(dim, "scope")) ?? string.Empty;
            var activeElement = Property(dim, "active");
            var active = activeElement.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.Number => activeElement.TryGetDouble(out var number) && number != 0,
                JsonValueKind.String => activeElement.GetString() is "1" or "true",
                _ => false,
            };

            if (!string.Equals(scope, "action", StringComparison.Ordinal))
            {
                findings.Add(new(MatomoCheckSeverity.DataLoss, "dimension-scope", $"Custom dimension {n} ({key}) has the '{scope}' scope, but {field} changes with every call and needs the action scope: Matomo files it wrongly. Create an action-scoped dimension and put its ID in {key}."));
            }
            else if (!active)
            {
                findings.Add(new(MatomoCheckSeverity.DataLoss, "dimension-inactive", $"Custom dimension {n} ({key}) is not active: Matomo drops its values. Activate it under Administration > Websites > Custom Dimensions."));
            }
            else
            {
                findings.Add(new(MatomoCheckSeverity.Ok, "dimension", $"Custom dimension {n} ({key}) exists, is active and has the action scope."));
            }
        }
    }

    private async Task CheckCustomVariablesAsync(ReportingApi api, string site, List<MatomoCheckFinding> findings, CancellationToken cancellationToken)
    {
        var configured = _options.CustomVariableSlots;
        var answer = await api.CallAsync("CustomVariables.getUsagesOfSlots", [new("idSite", site)], cancellationToken).ConfigureAwait(false);
        if (answer.Kind == AnswerKind.ApiError && SaysPluginInactive(answer.Message))
        {
            AddPluginInactive(findings, answer.Message);
            return;
        }

        if (answer.Kind == AnswerKind.NoAccess)
        {
            // Counting slots needs admin access; whether the plugin is active only needs view access.
            var activated = await api.CallAsync("API.isPluginActivated", [new("pluginName", "CustomVariables")], cancellationToken).ConfigureAwait(false);
            var value = activated.Kind == AnswerKind.Value ? Property(activated.Json, "value").ValueKind : JsonValueKind.Undefined;
            if (value == JsonValueKind.False)
            {
                AddPluginInactive(findings, null);
            }
            else
            {
                var active = value == JsonValueKind.True ? "The CustomVariables plugin is active, but its" : "The CustomVariables plugin's";
                findings.Add(new(MatomoCheckSeverity.Advice, "custom-variables-unchecked", $"{active} slots cannot be counted without admin access (Matomo: \"{answer.Message}\"). Nothing is lost as long as site {site} has at least Matomo:CustomVariableSlots ({configured}) action-scoped slots (Matomo has 5 by default); a token with admin access lets this check count them."));
            }

            return;
        }

        if (answer.Kind != AnswerKind.Value || answer.Json.ValueKind != JsonValueKind.Array)
        {
            findings.Add(new(MatomoCheckSeverity.Advice, "custom-variables-unchecked", $"The CustomVariables plugin could not be checked ({answer.Describe()}). Make sure it is active under Administration > Plugins and that site {site} has at least Matomo:CustomVariableSlots ({configured}) action-scoped slots."));
            return;
        }

        var actionSlots = 0;
        foreach (var slot in answer.Json.EnumerateArray())
        {
            if (Text(Property(slot, "scope")) is "page" or "action")
            {
                actionSlots++;
            }
        }

        if (actionSlots < configured)
        {
            findings.Add(new(MatomoCheckSeverity.DataLoss, "custom-variable-slots", $"Site {site} has {actionSlots} action-scoped custom variable slots but Matomo:CustomVariableSlots is {configured}: variables in slots above {actionSlots} are dropped. Set Matomo:CustomVariableSlots to {actionSlots}, or add slots with Matomo's console command customvariables:set-max-custom-variables."));
        }
        else
        {
            findings.Add(new(MatomoCheckSeverity.Ok, "custom-variables", $"The CustomVariables plugin is active with {actionSlots} action-scoped slots (Matomo:CustomVariableSlots is {configured})."));
        }
    }

    private static void AddPluginInactive(List<MatomoCheckFinding> findings, string? message) =>
        findings.Add(new(MatomoCheckSeverity.DataLoss, "custom-variables-plugin", $"The CustomVariables plugin is not active in Matomo{(message is null ? string.Empty : " (Matomo: \"" + message + "\")")}; Matomo 4 and later no longer install it: the outcome, call kind and every custom variable are dropped. Install and activate it under Administration > Plugins, or set Matomo:Recording to CustomDimensions and map Matomo:Dimensions."));

    private async Task CheckQueuedTrackingAsync(ReportingApi api, Uri endpoint, List<MatomoCheckFinding> findings, CancellationToken cancellationToken)
    {
        var activated = await api.CallAsync("API.isPluginActivated", [new("pluginName", "QueuedTracking")], cancellationToken).ConfigureAwait(false);
        if (activated.Kind != AnswerKind.Value || Property(activated.Json, "value").ValueKind != JsonValueKind.True)
        {
            return;
        }

        // The plugin can be active with its queue off; only matomo.php's answer to a bulk request tells.
        var probe = await api.ProbeBulkAsync(cancellationToken).ConfigureAwait(false);
        if (probe == BulkProbe.SingleHitAnswer)
        {
            // Delivery reads it: hits are then checked against Matomo's rules before they are sent (its own log of the
            // queue is not repeated, this finding says it).
            _state.SetMatomoQueues();
        }

        findings.Add(probe switch
        {
            BulkProbe.BulkAnswer => new(MatomoCheckSeverity.Ok, "queued-tracking-off", "The QueuedTracking plugin is active but its queue is off: Matomo stores hits directly and counts each one."),
            BulkProbe.SingleHitAnswer => new(MatomoCheckSeverity.Advice, "queued-tracking", $"Matomo queues hits (the QueuedTracking plugin is active and its queue is on): {QueuedTrackingMeaning} Make sure a queue worker runs (console queuedtracking:process, or processing during tracking requests)."),
            _ => new(MatomoCheckSeverity.DataLoss, "queued-tracking-failing", $"The QueuedTracking plugin is active and {Describe(endpoint)} answers a bulk request with HTTP {api.LastStatus}: its queue (Redis or the database) may be failing, so hits are retried and dropped once the queue is full. Check Matomo's queue backend."),
        });
    }

    private static bool SaysPluginInactive(string? message) =>
        message is not null && (message.Contains("not enabled", StringComparison.OrdinalIgnoreCase)
            || message.Contains("not activated", StringComparison.OrdinalIgnoreCase)
            || message.Contains("does not exist", StringComparison.OrdinalIgnoreCase)
            || message.Contains("module CustomVariables not found", StringComparison.OrdinalIgnoreCase)
            || message.Contains("module CustomDimensions not found", StringComparison.OrdinalIgnoreCase));

    private static bool ContainsSite(Answer answer, string site)
    {
        if (answer.Kind != AnswerKind.Value || answer.Json.ValueKind != JsonValueKind.Array)
        {
            return false;
        }

        foreach (var id in answer.Json.EnumerateArray())
        {
            if (Text(id) == site)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The property of an object, or an undefined element for anything else (never throws).</summary>
    private static JsonElement Property(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) ? value : default;

    /// <summary>A scalar as text (strings, numbers, booleans), null for objects, arrays, null and undefined.</summary>
    private static string? Text(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => null,
    };

    private string Redact(string text) =>
        string.IsNullOrEmpty(_options.TokenAuth) ? text : text.Replace(_options.TokenAuth, "***", StringComparison.Ordinal);

    private static string Describe(Uri endpoint) =>
        endpoint.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);

    private static string Reason(HttpRequestException ex) =>
        ex.HttpRequestError == HttpRequestError.Unknown ? (ex.StatusCode is { } code ? "HTTP " + (int)code : "request failed") : ex.HttpRequestError.ToString();

    [GeneratedRegex("<h[12][^>]*>(.*?)</h[12]>", RegexOptions.Singleline | RegexOptions.CultureInvariant, 100)]
    private static partial Regex HtmlHeading();

    [GeneratedRegex("<[^>]*>", RegexOptions.CultureInvariant, 100)]
    private static partial Regex HtmlTag();

    private enum AnswerKind
    {
        /// <summary>HTTP 2xx with JSON that is not an API error.</summary>
        Value,

        /// <summary>HTTP 2xx with <c>{"result":"error"}</c> (unknown site, a plugin not enabled, ...).</summary>
        ApiError,

        /// <summary>HTTP 401/403 with a JSON error: the token is valid but lacks the access the method needs.</summary>
        NoAccess,

        /// <summary>HTTP 401/403 without a JSON error (Matomo's HTML error page): the token is not accepted.</summary>
        TokenRejected,

        /// <summary>Another HTTP status, or a body that is not JSON.</summary>
        Unexpected,
    }

    private enum BulkProbe
    {
        /// <summary>2xx with Matomo's bulk JSON: hits are stored directly and counted.</summary>
        BulkAnswer,

        /// <summary>2xx without JSON: QueuedTracking's single-hit answer (or not Matomo at all).</summary>
        SingleHitAnswer,

        /// <summary>Any other status.</summary>
        NotMatomo,
    }

    /// <summary>One answer of the Reporting API. <see cref="Message"/> is Matomo's own message, HTML-decoded.</summary>
    private readonly record struct Answer(AnswerKind Kind, JsonElement Json, string? Message, int Status = 0)
    {
        public string Describe() => Kind switch
        {
            AnswerKind.Value => "unexpected answer",
            AnswerKind.TokenRejected => "the token is not accepted: " + Message,
            AnswerKind.Unexpected when Status >= 300 && Message is not null && !Message.StartsWith("HTTP ", StringComparison.Ordinal) => $"HTTP {Status}: {Message}",
            _ => Message ?? "unexpected answer",
        };
    }

    /// <summary>Matomo's Reporting API: POST index.php with the token in the form body, never in the URL.</summary>
    private sealed class ReportingApi
    {
        private readonly HttpClient _client;
        private readonly Uri _tracker;
        private readonly Uri _api;
        private readonly string? _token;

        public ReportingApi(HttpClient client, Uri tracker, string? token)
        {
            _client = client;
            _tracker = tracker;
            _api = new Uri(tracker, "index.php");
            _token = token;
        }

        public async Task<int> PingTrackerAsync(CancellationToken cancellationToken)
        {
            using var response = await _client.GetAsync(_tracker, cancellationToken).ConfigureAwait(false);
            return (int)response.StatusCode;
        }

        /// <summary>The HTTP status of the last bulk probe.</summary>
        public int LastStatus { get; private set; }

        /// <summary>Whether Matomo's brute-force detection blocks this host (<see cref="HostBlockProbe"/>); false without a token.</summary>
        public Task<bool> ProbeBlockedAsync(int site, CancellationToken cancellationToken) =>
            HostBlockProbe.For(site, _token)?.IsBlockedAsync(PostBulkAsync, cancellationToken) ?? Task.FromResult(false);

        private async Task<int> PostBulkAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
        {
            using var content = new ReadOnlyMemoryContent(body) { Headers = { ContentType = new("application/json") } };
            using var response = await _client.PostAsync(_tracker, content, cancellationToken).ConfigureAwait(false);
            return (int)response.StatusCode;
        }

        /// <summary>
        /// POSTs an empty bulk request to matomo.php: it stores nothing, direct Matomo answers it with its bulk JSON,
        /// QueuedTracking with the single-hit answer.
        /// </summary>
        public async Task<BulkProbe> ProbeBulkAsync(CancellationToken cancellationToken)
        {
            using var content = new StringContent("{\"requests\":[]}", Encoding.UTF8, "application/json");
            using var response = await _client.PostAsync(_tracker, content, cancellationToken).ConfigureAwait(false);
            LastStatus = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                return BulkProbe.NotMatomo;
            }

            var body = await ReadAsync(response, cancellationToken).ConfigureAwait(false);
            try
            {
                using var document = JsonDocument.Parse(body);
                return Property(document.RootElement, "status").ValueKind == JsonValueKind.String || Property(document.RootElement, "tracked").ValueKind != JsonValueKind.Undefined
                    ? BulkProbe.BulkAnswer
                    : BulkProbe.SingleHitAnswer;
            }
            catch (JsonException)
            {
                return BulkProbe.SingleHitAnswer;
            }
        }

        public async Task<Answer> CallAsync(string method, KeyValuePair<string, string>[] parameters, CancellationToken cancellationToken)
        {
            var form = new List<KeyValuePair<string, string>>(parameters.Length + 4)
            {
                new("module", "API"),
                new("method", method),
                new("format", "json"),
                // Matomo cuts list answers (the sites a token may write to) at 100 entries unless told otherwise.
                new("filter_limit", "-1"),
            };
            form.AddRange(parameters);
            if (_token is not null)
            {
                form.Add(new("token_auth", _token));
            }

            using var content = new FormUrlEncodedContent(form);
            using var response = await _client.PostAsync(_api, content, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var body = await ReadAsync(response, cancellationToken).ConfigureAwait(false);
            JsonElement root;
            try
            {
                using var document = JsonDocument.Parse(body);
                root = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                return status is 401 or 403
                    ? new Answer(AnswerKind.TokenRejected, default, HtmlMessage(body) ?? $"HTTP {status}", status)
                    : new Answer(AnswerKind.Unexpected, default, response.IsSuccessStatusCode ? "not a JSON answer" : HtmlMessage(body) ?? $"HTTP {status}", status);
            }

            var isError = Text(Property(root, "result")) == "error";
            var message = Text(Property(root, "message")) is { Length: > 0 } m ? WebUtility.HtmlDecode(m) : null;
            if (status is 401 or 403)
            {
                // Matomo answers "no access" with JSON and an invalid token with an HTML page; a JSON answer that still
                // says it cannot authenticate is a rejected token too.
                return isError && message is not null && !message.Contains("authenticate", StringComparison.OrdinalIgnoreCase)
                    ? new Answer(AnswerKind.NoAccess, default, message)
                    : new Answer(AnswerKind.TokenRejected, default, message ?? $"HTTP {status}");
            }

            if (!response.IsSuccessStatusCode)
            {
                return new Answer(AnswerKind.Unexpected, default, message is null ? $"HTTP {status}" : $"HTTP {status}: {message}");
            }

            return isError ? new Answer(AnswerKind.ApiError, default, message ?? "error") : new Answer(AnswerKind.Value, root, null);
        }

        private static async Task<string> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
        {
            // Decoded here: the charset Matomo (or a proxy) declares may be unknown to .NET, which would throw.
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            return Encoding.UTF8.GetString(bytes);
        }

        private static string? HtmlMessage(string body)
        {
            try
            {
                foreach (Match heading in HtmlHeading().Matches(body))
                {
                    var text = WebUtility.HtmlDecode(HtmlTag().Replace(heading.Groups[1].Value, string.Empty)).Trim();
                    if (text.Length > 0 && !text.Equals("An error occurred", StringComparison.OrdinalIgnoreCase))
                    {
                        return text.Length > 300 ? text[..300] : text;
                    }
                }
            }
            catch (RegexMatchTimeoutException)
            {
            }

            return null;
        }
    }
}
