using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.TestSupport;

public sealed partial class MatomoStandIn
{
    // As Matomo 5.0.2 answers (seen on ../shared/matomo): an invalid token gets HTTP 401 with an HTML page even with
    // format=json; a valid token (or none) without the access a method needs gets HTTP 401 with a JSON error; every
    // other API error is HTTP 200 with a JSON error.
    private const string AuthenticationFailedPage =
        "<!DOCTYPE html>\n<html>\n<head>\n\t<meta charset=\"utf-8\">\n\t<title>Matomo &rsaquo; Error</title>\n</head>\n<body id=\"simple\">\n"
        + "<div class=\"box\">\n\t<div class=\"header\">\n\t\t<h1>An error occurred</h1>\n\t</div>\n\n"
        + "\t<div class=\"content\"><h2>Unable to authenticate with the provided token. It is either invalid or expired.</h2>"
        + "<p><a href=\"javascript:window.history.back();\">Go Back</a> | <a href=\"index.php\">Go to Matomo</a></p></div>\n</div>\n</body>\n</html>\n";

    // Matomo 5.0.2's answer to any Reporting API call from an IP its brute-force detection blocks (seen: HTTP 500, even
    // with format=json).
    private const string BlockedPage =
        "<!DOCTYPE html>\n<html>\n<head>\n\t<meta charset=\"utf-8\">\n\t<title>Matomo &rsaquo; Error</title>\n</head>\n<body id=\"simple\">\n"
        + "<div class=\"box\">\n\t<div class=\"header\">\n\t\t<h1>An error occurred</h1>\n\t</div>\n\n"
        + "\t<div class=\"content\"><h2>Too many failed logins. Please wait and try logging in again later.</h2>"
        + "<p><a href=\"javascript:window.history.back();\">Go Back</a> | <a href=\"index.php\">Go to Matomo</a></p></div>\n</div>\n</body>\n</html>\n";

    private const string NoViewAccessAnywhere = "You can't access this resource as it requires view access for at least one website.";

    private Answer Api(HttpRequest request, Dictionary<string, string> query, string body)
    {
        var form = HttpMethods.IsPost(request.Method) && body.Length > 0 ? ParseQuery(body) : new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in query)
        {
            form[name] = value;
        }

        if (form.GetValueOrDefault("module") != "API" || !form.TryGetValue("method", out var method))
        {
            return new Answer(200, "text/html; charset=utf-8", "<html><body>Matomo</body></html>");
        }

        var token = form.GetValueOrDefault("token_auth");
        if (IpBlocked)
        {
            return new Answer(500, "text/html; charset=utf-8", BlockedPage);
        }

        if (!string.IsNullOrEmpty(token) && token != Token)
        {
            Interlocked.Increment(ref _failedLogins);
            return new Answer(401, "text/html; charset=utf-8", AuthenticationFailedPage);
        }

        // No token: the anonymous user, who has no access to anything on a default Matomo.
        var access = string.IsNullOrEmpty(token) ? MatomoTokenAccess.None : TokenAccess;
        _ = int.TryParse(form.GetValueOrDefault("idSite"), NumberStyles.None, CultureInfo.InvariantCulture, out var idSite);
        var (status, result) = method switch
        {
            "API.getMatomoVersion" => AnyView(access, () => new JsonObject { ["value"] = Version }),
            "API.isPluginActivated" => AnyView(access, () => new JsonObject { ["value"] = PluginActive(form.GetValueOrDefault("pluginName")) }),
            "SitesManager.getSiteFromId" => SiteFromId(idSite, access),
            // These answer even a user without any access (seen: [] and false).
            "SitesManager.getSitesIdWithWriteAccess" => (200, SiteList(access == MatomoTokenAccess.Write, form)),
            "SitesManager.getSitesIdWithAdminAccess" => (200, SiteList(access is MatomoTokenAccess.Admin or MatomoTokenAccess.SuperUser, form)),
            "SitesManager.getSitesIdWithAtLeastViewAccess" => (200, SiteList(access != MatomoTokenAccess.None, form)),
            "UsersManager.hasSuperUserAccess" => (200, new JsonObject { ["value"] = access == MatomoTokenAccess.SuperUser }),
            "CustomDimensions.getConfiguredCustomDimensions" => ConfiguredDimensions(idSite, access),
            "CustomVariables.getUsagesOfSlots" => UsagesOfSlots(idSite, access),
            _ => (200, ApiError(string.Create(CultureInfo.InvariantCulture,
                $"The method '{MethodName(method)}' does not exist or is not available in the module '{ModuleName(method)}'."))),
        };

        return new Answer(status, "application/json; charset=utf-8", result.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }

    /// <summary>Whether a plugin is active, for <c>API.isPluginActivated</c>.</summary>
    private bool PluginActive(string? name) => name switch
    {
        "CustomVariables" => CustomVariablesPluginActive,
        "QueuedTracking" => QueuedTracking,
        "CustomDimensions" or "API" or "SitesManager" or "UsersManager" or "Live" => true,
        _ => false,
    };

    private static (int Status, JsonNode Result) AnyView(MatomoTokenAccess access, Func<JsonNode> result) =>
        access == MatomoTokenAccess.None ? (401, ApiError(NoViewAccessAnywhere)) : (200, result());

    private static JsonObject ApiError(string message) => new() { ["result"] = "error", ["message"] = message };

    private static string ModuleName(string method) => method.Contains('.', StringComparison.Ordinal) ? method[..method.IndexOf('.', StringComparison.Ordinal)] : method;

    private static string MethodName(string method) => method.Contains('.', StringComparison.Ordinal) ? method[(method.IndexOf('.', StringComparison.Ordinal) + 1)..] : method;

    /// <summary>
    /// The sites the token may use: <see cref="OtherSites"/> sites created before this one, then this one. Like Matomo, the
    /// list stops at 100 entries unless the request says <c>filter_limit=-1</c> (seen on 5.0.2).
    /// </summary>
    private JsonArray SiteList(bool hasAccess, Dictionary<string, string> form)
    {
        if (!hasAccess)
        {
            return [];
        }

        var ids = Enumerable.Range(SiteId + 1, OtherSites).Append(SiteId);
        var limit = int.TryParse(form.GetValueOrDefault("filter_limit"), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) ? l : 100;
        return [.. (limit < 0 ? ids : ids.Take(limit)).Select(id => (JsonNode)id)];
    }

    /// <summary>
    /// Matomo checks access first: a user without the access gets 401 whether the site exists or not; a super user gets
    /// HTTP 200 "unexpected website" for a site that does not exist.
    /// </summary>
    private (int Status, JsonNode Result)? CheckSite(int idSite, MatomoTokenAccess access, string needed)
    {
        if (access == MatomoTokenAccess.SuperUser)
        {
            return idSite == SiteId ? null : (200, UnexpectedWebsite(idSite));
        }

        var ok = idSite == SiteId && (needed == "admin"
            ? access is MatomoTokenAccess.Admin
            : access != MatomoTokenAccess.None);
        return ok ? null : (401, ApiError(string.Create(CultureInfo.InvariantCulture, $"You can't access this resource as it requires '{needed}' access for the website id = {idSite}.")));
    }

    private static JsonObject UnexpectedWebsite(int idSite) =>
        ApiError(string.Create(CultureInfo.InvariantCulture, $"An unexpected website was found in the request: website id was set to '{idSite}' ."));

    private (int Status, JsonNode Result) SiteFromId(int idSite, MatomoTokenAccess access) => CheckSite(idSite, access, "view") ?? (200, new JsonObject
    {
        ["idsite"] = SiteId,
        ["name"] = "Stand-in site",
        ["main_url"] = "http://localhost",
        ["ts_created"] = "2026-01-01 00:00:00",
        ["ecommerce"] = 0,
        ["sitesearch"] = 1,
        ["timezone"] = "UTC",
        ["currency"] = "USD",
        ["exclude_unknown_urls"] = 0,
        ["excluded_ips"] = string.Empty,
        ["excluded_parameters"] = string.Empty,
        ["excluded_user_agents"] = string.Empty,
        ["keep_url_fragment"] = 0,
        ["type"] = "website",
        ["group"] = string.Empty,
        ["creator_login"] = "admin",
    });

    private (int Status, JsonNode Result) ConfiguredDimensions(int idSite, MatomoTokenAccess access)
    {
        // A super user gets [] for a site that does not exist (seen), not an error.
        if (access == MatomoTokenAccess.SuperUser && idSite != SiteId)
        {
            return (200, new JsonArray());
        }

        if (CheckSite(idSite, access, "view") is { } error)
        {
            return error;
        }

        var list = new JsonArray();
        lock (_gate)
        {
            foreach (var d in Dimensions)
            {
                // Matomo answers ids and indices as strings and "active" as a boolean.
                list.Add(new JsonObject
                {
                    ["idcustomdimension"] = d.Id.ToString(CultureInfo.InvariantCulture),
                    ["idsite"] = SiteId.ToString(CultureInfo.InvariantCulture),
                    ["name"] = d.Name ?? "Dimension " + d.Id.ToString(CultureInfo.InvariantCulture),
                    ["index"] = d.Index.ToString(CultureInfo.InvariantCulture),
                    ["scope"] = d.Scope,
                    ["active"] = d.Active,
                    ["extractions"] = new JsonArray(),
                    ["case_sensitive"] = true,
                });
            }
        }

        return (200, list);
    }

    private (int Status, JsonNode Result) UsagesOfSlots(int idSite, MatomoTokenAccess access)
    {
        if (!CustomVariablesPluginActive)
        {
            // HTTP 200, whatever the token's access, HTML-escaped as Matomo sends it.
            return (200, ApiError("The plugin CustomVariables is not enabled. You can activate the plugin on Settings &gt; Plugins page in Matomo."));
        }

        if (CheckSite(idSite, access, "admin") is { } error)
        {
            return error;
        }

        var list = new JsonArray();
        foreach (var scope in new[] { "visit", "page" })
        {
            for (var index = 1; index <= CustomVariableSlots; index++)
            {
                list.Add(new JsonObject { ["scope"] = scope, ["index"] = index, ["usages"] = new JsonArray() });
            }
        }

        return (200, list);
    }
}
