using System.Globalization;
using System.Net;
using System.Text.Json;
using Matomo.Rpc.Internal;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc;

/// <summary>
/// Checks the Matomo side through its Reporting API before trusting it: reachability and version, the site, the
/// token's rights, the mapped custom dimensions and the CustomVariables plugin. Matomo accepts hits it then drops or
/// misfiles silently; this says so in plain words. Runs at start-up in the background (see
/// <see cref="MatomoCheckOptions"/>) and on demand with <see cref="RunAsync"/>.
/// </summary>
public sealed class MatomoSiteCheck
{
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
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                findings.Add(new(MatomoCheckSeverity.DataLoss, "unreachable", $"Matomo did not answer within Matomo:Check:Timeout ({_options.Check.Timeout}). Hits are queued and retried, and dropped once the queue is full; check Matomo:TrackerUrl and the network."));
            }
            catch (HttpRequestException ex)
            {
                findings.Add(new(MatomoCheckSeverity.DataLoss, "unreachable", $"Matomo at {Describe(endpoint)} cannot be reached ({Reason(ex)}). Hits are queued and retried, and dropped once the queue is full; check Matomo:TrackerUrl and the network."));
            }
        }

        var report = new MatomoCheckReport(endpoint is null ? "(log-only)" : Describe(endpoint), version, findings, _time.GetUtcNow());
        _state.LastReport = report;
        foreach (var finding in findings)
        {
            var message = Redact(finding.Message);
            if (finding.Severity == MatomoCheckSeverity.DataLoss)
            {
                Log.CheckDataLoss(_logger, finding.Code, message);
            }
            else
            {
                Log.CheckFine(_logger, finding.Code, message);
            }
        }

        return report;
    }

    private async Task<string?> CheckAsync(ReportingApi api, Uri endpoint, List<MatomoCheckFinding> findings, CancellationToken cancellationToken)
    {
        var site = _options.SiteId.ToString(CultureInfo.InvariantCulture);
        if (string.IsNullOrEmpty(_options.TokenAuth))
        {
            var status = await api.PingTrackerAsync(cancellationToken).ConfigureAwait(false);
            findings.Add(status is >= 200 and < 300
                ? new(MatomoCheckSeverity.Ok, "reachable", $"Matomo answers at {Describe(endpoint)}.")
                : new(MatomoCheckSeverity.DataLoss, "tracker-status", $"{Describe(endpoint)} answers HTTP {status}: it does not look like Matomo's matomo.php. Check Matomo:TrackerUrl."));
            findings.Add(new(MatomoCheckSeverity.Advice, "no-token", "No Matomo:TokenAuth: the site, custom dimensions and plugins cannot be checked, and callers' IPs are not sent (Matomo sees the server's IP for every hit)."));
            return null;
        }

        var versionAnswer = await api.CallAsync("API.getMatomoVersion", [], cancellationToken).ConfigureAwait(false);
        if (versionAnswer.Unauthorized)
        {
            _state.TokenTrusted = false;
            findings.Add(new(MatomoCheckSeverity.DataLoss, "token-rejected", "Matomo does not accept Matomo:TokenAuth (HTTP 401): with it, every hit carrying the caller's IP (cip) would be rejected. cip is no longer sent, so hits are kept without callers' IPs. Create a token under Administration > Personal > Security > Auth tokens for a user with write access to the site."));
            return null;
        }

        string? version = null;
        if (versionAnswer.Error is { } versionError)
        {
            findings.Add(new(MatomoCheckSeverity.Advice, "version-unknown", $"Matomo's version could not be read ({versionError})."));
        }
        else if (versionAnswer.Json is { } versionJson && versionJson.ValueKind == JsonValueKind.Object && versionJson.TryGetProperty("value", out var value))
        {
            version = value.ToString();
            var major = int.TryParse(version.Split('.')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? m : 0;
            findings.Add(major >= 4 && _options.SendGenerationTime
                ? new(MatomoCheckSeverity.Advice, "gt-ms-ignored", $"Matomo {version} ignores gt_ms (since Matomo 4); the duration is stored from pf_srv. Set Matomo:SendGenerationTime to false to stop sending gt_ms.")
                : new(MatomoCheckSeverity.Ok, "version", $"Matomo {version} answers at {Describe(endpoint)}."));
        }

        var siteAnswer = await api.CallAsync("SitesManager.getSiteFromId", [new("idSite", site)], cancellationToken).ConfigureAwait(false);
        var siteFound = siteAnswer.Error is null && siteAnswer.Json is { ValueKind: JsonValueKind.Object };
        if (siteFound)
        {
            var siteName = siteAnswer.Json!.Value.TryGetProperty("name", out var name) ? name.ToString() : null;
            findings.Add(new(MatomoCheckSeverity.Ok, "site", $"Site {site}{(siteName is null ? string.Empty : " (" + siteName + ")")} exists."));
        }
        else
        {
            findings.Add(new(MatomoCheckSeverity.DataLoss, "site-missing", $"Site {site} does not exist in Matomo or the token cannot see it ({siteAnswer.Error ?? "unexpected answer"}): Matomo rejects every hit for a site that does not exist. Set Matomo:SiteId to the ID shown under Administration > Websites > Manage, and give the token's user access to it."));
        }

        // Rights decide whether cip may be sent, so they are checked even when the site could not be read.
        await CheckRightsAsync(api, site, findings, cancellationToken).ConfigureAwait(false);
        if (!siteFound)
        {
            return version;
        }

        if (_options.Recording.HasFlag(MatomoRecording.CustomDimensions))
        {
            await CheckDimensionsAsync(api, site, findings, cancellationToken).ConfigureAwait(false);
        }

        if (_options.Recording.HasFlag(MatomoRecording.CustomVariables))
        {
            await CheckCustomVariablesAsync(api, site, findings, cancellationToken).ConfigureAwait(false);
        }

        return version;
    }

    private async Task CheckRightsAsync(ReportingApi api, string site, List<MatomoCheckFinding> findings, CancellationToken cancellationToken)
    {
        var write = await api.CallAsync("SitesManager.getSitesIdWithWriteAccess", [], cancellationToken).ConfigureAwait(false);
        var admin = await api.CallAsync("SitesManager.getSitesIdWithAdminAccess", [], cancellationToken).ConfigureAwait(false);
        var super = await api.CallAsync("UsersManager.hasSuperUserAccess", [], cancellationToken).ConfigureAwait(false);
        var hasRights = ContainsSite(write, site) || ContainsSite(admin, site)
            || (super.Json is { ValueKind: JsonValueKind.Object } s && s.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.True);
        if (hasRights)
        {
            _state.TokenTrusted = true;
            findings.Add(new(MatomoCheckSeverity.Ok, "token-rights", $"The token may record callers' IPs (cip) and past times (cdt) for site {site}."));
            return;
        }

        _state.TokenTrusted = false;
        findings.Add(new(MatomoCheckSeverity.DataLoss, "token-rights", $"The token's user has neither write nor admin access to site {site} and is not a super user: Matomo would reject every hit carrying the caller's IP (cip). cip is no longer sent, so hits are kept without callers' IPs. Give the user write access under Administration > System > Users, or use another token in Matomo:TokenAuth."));
    }

    private async Task CheckDimensionsAsync(ReportingApi api, string site, List<MatomoCheckFinding> findings, CancellationToken cancellationToken)
    {
        var answer = await api.CallAsync("CustomDimensions.getConfiguredCustomDimensions", [new("idSite", site)], cancellationToken).ConfigureAwait(false);
        if (answer.Error is not null || answer.Json is not { ValueKind: JsonValueKind.Array } list)
        {
            findings.Add(new(MatomoCheckSeverity.DataLoss, "dimensions-unavailable", $"Matomo's custom dimensions could not be read ({answer.Error ?? "unexpected answer"}): is the CustomDimensions plugin active (Administration > Plugins)? Without it the mapped dimensions are dropped."));
            return;
        }

        var d = _options.Dimensions;
        foreach (var (field, id) in new (string, int?)[] { ("Outcome", d.Outcome), ("CallKind", d.CallKind), ("Messages", d.Messages), ("Error", d.Error), ("Transport", d.Transport) })
        {
            if (id is not { } n)
            {
                continue;
            }

            JsonElement? found = null;
            foreach (var dimension in list.EnumerateArray())
            {
                if (dimension.TryGetProperty("idcustomdimension", out var idElement) && idElement.ToString() == n.ToString(CultureInfo.InvariantCulture))
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

            var scope = dim.TryGetProperty("scope", out var scopeElement) ? scopeElement.ToString() : string.Empty;
            var active = dim.TryGetProperty("active", out var activeElement) && activeElement.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.Number => activeElement.GetInt32() != 0,
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
        var answer = await api.CallAsync("CustomVariables.getUsagesOfSlots", [new("idSite", site)], cancellationToken).ConfigureAwait(false);
        if (answer.Error is { } error && !error.Contains("not enabled", StringComparison.OrdinalIgnoreCase) && !error.Contains("plugin", StringComparison.OrdinalIgnoreCase))
        {
            findings.Add(new(MatomoCheckSeverity.Advice, "custom-variables-unchecked", $"The CustomVariables plugin is active, but its slots could not be counted ({error}): that needs a token with admin access. Make sure the site has at least Matomo:CustomVariableSlots ({_options.CustomVariableSlots}) action-scoped slots."));
            return;
        }

        if (answer.Error is not null || answer.Json is not { ValueKind: JsonValueKind.Array } slots)
        {
            findings.Add(new(MatomoCheckSeverity.DataLoss, "custom-variables-plugin", "The CustomVariables plugin is not active in Matomo (Matomo 4 and later no longer install it): the outcome, call kind and every custom variable are dropped. Install and activate it under Administration > Plugins, or set Matomo:Recording to CustomDimensions and map Matomo:Dimensions."));
            return;
        }

        var actionSlots = 0;
        foreach (var slot in slots.EnumerateArray())
        {
            if (slot.TryGetProperty("scope", out var scope) && scope.GetString() is "page" or "action")
            {
                actionSlots++;
            }
        }

        var configured = _options.CustomVariableSlots;
        if (actionSlots < configured)
        {
            findings.Add(new(MatomoCheckSeverity.DataLoss, "custom-variable-slots", $"Site {site} has {actionSlots} action-scoped custom variable slots but Matomo:CustomVariableSlots is {configured}: variables in slots above {actionSlots} are dropped. Set Matomo:CustomVariableSlots to {actionSlots}, or add slots with Matomo's console command customvariables:set-max-custom-variables."));
        }
        else
        {
            findings.Add(new(MatomoCheckSeverity.Ok, "custom-variables", $"The CustomVariables plugin is active with {actionSlots} action-scoped slots (Matomo:CustomVariableSlots is {configured})."));
        }
    }

    private static bool ContainsSite(ReportingApi.Answer answer, string site)
    {
        if (answer.Json is not { ValueKind: JsonValueKind.Array } ids)
        {
            return false;
        }

        foreach (var id in ids.EnumerateArray())
        {
            if (id.ToString() == site)
            {
                return true;
            }
        }

        return false;
    }

    private string Redact(string text) =>
        string.IsNullOrEmpty(_options.TokenAuth) ? text : text.Replace(_options.TokenAuth, "***", StringComparison.Ordinal);

    private static string Describe(Uri endpoint) => endpoint.GetLeftPart(UriPartial.Path);

    private static string Reason(HttpRequestException ex) =>
        ex.HttpRequestError == HttpRequestError.Unknown ? (ex.StatusCode is { } code ? "HTTP " + (int)code : "request failed") : ex.HttpRequestError.ToString();

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

        public async Task<Answer> CallAsync(string method, KeyValuePair<string, string>[] parameters, CancellationToken cancellationToken)
        {
            var form = new List<KeyValuePair<string, string>>(parameters.Length + 4)
            {
                new("module", "API"),
                new("method", method),
                new("format", "json"),
            };
            form.AddRange(parameters);
            if (_token is not null)
            {
                form.Add(new("token_auth", _token));
            }

            using var content = new FormUrlEncodedContent(form);
            using var response = await _client.PostAsync(_api, content, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                return new Answer(null, null, Unauthorized: true);
            }

            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return new Answer(null, $"HTTP {(int)response.StatusCode}", false);
            }

            try
            {
                using var document = JsonDocument.Parse(body);
                var root = document.RootElement.Clone();
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("result", out var result) && result.GetString() == "error")
                {
                    var message = root.TryGetProperty("message", out var m) ? m.GetString() : null;
                    return new Answer(null, string.IsNullOrEmpty(message) ? "error" : message, false);
                }

                return new Answer(root, null, false);
            }
            catch (JsonException)
            {
                return new Answer(null, "not a JSON answer", false);
            }
        }

        public readonly record struct Answer(JsonElement? Json, string? Error, bool Unauthorized);
    }
}
