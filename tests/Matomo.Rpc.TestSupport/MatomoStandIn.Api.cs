using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.TestSupport;

public sealed partial class MatomoStandIn
{
    private const string AuthenticationFailedPage =
        "<!DOCTYPE html><html><head><title>Matomo &rsaquo; Error</title></head><body><h1>Error</h1>"
        + "<p>Unable to authenticate with the provided token. It is either invalid, expired or is required to be sent as a POST parameter.</p></body></html>";

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

        if (form.GetValueOrDefault("token_auth") != Token)
        {
            return new Answer(401, "text/html; charset=utf-8", AuthenticationFailedPage);
        }

        var access = TokenAccess;
        _ = int.TryParse(form.GetValueOrDefault("idSite"), NumberStyles.None, CultureInfo.InvariantCulture, out var idSite);
        JsonNode? result = method switch
        {
            "API.getMatomoVersion" => access == MatomoTokenAccess.None
                ? ApiError("You can't access this resource as it requires 'view' access for at least one website.")
                : new JsonObject { ["value"] = Version },
            "SitesManager.getSiteFromId" => SiteFromId(idSite, access),
            "SitesManager.getSitesIdWithWriteAccess" => SiteList(access == MatomoTokenAccess.Write),
            "SitesManager.getSitesIdWithAdminAccess" => SiteList(access is MatomoTokenAccess.Admin or MatomoTokenAccess.SuperUser),
            "SitesManager.getSitesIdWithAtLeastViewAccess" => SiteList(access != MatomoTokenAccess.None),
            "UsersManager.hasSuperUserAccess" => new JsonObject { ["value"] = access == MatomoTokenAccess.SuperUser },
            "CustomDimensions.getConfiguredCustomDimensions" => ConfiguredDimensions(idSite, access),
            "CustomVariables.getUsagesOfSlots" => UsagesOfSlots(idSite, access),
            _ => ApiError(string.Create(CultureInfo.InvariantCulture,
                $"The method '{MethodName(method)}' does not exist or is not available in the module '{ModuleName(method)}'.")),
        };

        return new Answer(200, "application/json; charset=utf-8", result!.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }

    private static JsonObject ApiError(string message) => new() { ["result"] = "error", ["message"] = message };

    private static string ModuleName(string method) => method.Contains('.', StringComparison.Ordinal) ? method[..method.IndexOf('.', StringComparison.Ordinal)] : method;

    private static string MethodName(string method) => method.Contains('.', StringComparison.Ordinal) ? method[(method.IndexOf('.', StringComparison.Ordinal) + 1)..] : method;

    private JsonArray SiteList(bool hasAccess) => hasAccess ? [SiteId] : [];

    private JsonObject? CheckSite(int idSite, MatomoTokenAccess access, string needed)
    {
        if (idSite != SiteId)
        {
            return ApiError(string.Create(CultureInfo.InvariantCulture, $"An unexpected website was found in the request: website id was set to '{idSite}' ."));
        }

        var ok = needed == "admin"
            ? access is MatomoTokenAccess.Admin or MatomoTokenAccess.SuperUser
            : access != MatomoTokenAccess.None;
        return ok ? null : ApiError(string.Create(CultureInfo.InvariantCulture, $"You can't access this resource as it requires '{needed}' access for the website id = {idSite}."));
    }

    private JsonNode SiteFromId(int idSite, MatomoTokenAccess access) => CheckSite(idSite, access, "view") ?? new JsonObject
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
    };

    private JsonNode ConfiguredDimensions(int idSite, MatomoTokenAccess access)
    {
        if (CheckSite(idSite, access, "view") is { } error)
        {
            return error;
        }

        var list = new JsonArray();
        lock (_gate)
        {
            foreach (var d in Dimensions)
            {
                list.Add(new JsonObject
                {
                    ["idcustomdimension"] = d.Id,
                    ["idsite"] = SiteId,
                    ["name"] = d.Name ?? "Dimension " + d.Id.ToString(CultureInfo.InvariantCulture),
                    ["index"] = d.Index,
                    ["scope"] = d.Scope,
                    ["active"] = d.Active,
                    ["extractions"] = new JsonArray(),
                    ["case_sensitive"] = true,
                });
            }
        }

        return list;
    }

    private JsonNode UsagesOfSlots(int idSite, MatomoTokenAccess access)
    {
        if (!CustomVariablesPluginActive)
        {
            return ApiError("The plugin CustomVariables is not enabled. You can activate the plugin on Settings > Plugins page in Matomo.");
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

        return list;
    }
}
