using System.Net;
using System.Text;
using System.Text.Json;
using Matomo.Rpc.TestSupport;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// The stand-in's Reporting API answers as Matomo 5.0.2 does (seen on ../shared/matomo): 401 with a JSON error for a
/// token without the access a method needs, 401 with an HTML page for an invalid token, 200 with a JSON error otherwise.
/// </summary>
public class MatomoStandInApiTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private MatomoStandIn _matomo = null!;
    private HttpClient _http = null!;

    [SetUp]
    public async Task SetUp()
    {
        _matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        _http = new HttpClient();
    }

    [TearDown]
    public async Task TearDown()
    {
        _http.Dispose();
        await _matomo.DisposeAsync();
    }

    [TestCase(MatomoTokenAccess.Write)]
    [TestCase(MatomoTokenAccess.View)]
    public async Task UsagesOfSlots_WithoutAdminAccess_Answers401WithJsonMessage(MatomoTokenAccess access)
    {
        _matomo.TokenAccess = access;

        var (status, body) = await ApiAsync("CustomVariables.getUsagesOfSlots", "&idSite=1");

        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(Message(body), Is.EqualTo("You can't access this resource as it requires 'admin' access for the website id = 1."));
    }

    [TestCase(MatomoTokenAccess.Write)]
    [TestCase(MatomoTokenAccess.SuperUser)]
    public async Task UsagesOfSlots_PluginInactive_Answers200WithHtmlEscapedMessage(MatomoTokenAccess access)
    {
        _matomo.TokenAccess = access;
        _matomo.CustomVariablesPluginActive = false;

        var (status, body) = await ApiAsync("CustomVariables.getUsagesOfSlots", "&idSite=1");

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Message(body), Is.EqualTo("The plugin CustomVariables is not enabled. You can activate the plugin on Settings &gt; Plugins page in Matomo."));
    }

    [TestCase(MatomoTokenAccess.Write)]
    [TestCase(MatomoTokenAccess.View)]
    public async Task GetSiteFromId_MissingSiteWithoutSuperUser_Answers401ViewAccess(MatomoTokenAccess access)
    {
        _matomo.TokenAccess = access;

        var (status, body) = await ApiAsync("SitesManager.getSiteFromId", "&idSite=99");

        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(Message(body), Is.EqualTo("You can't access this resource as it requires 'view' access for the website id = 99."));
    }

    [Test]
    public async Task GetSiteFromId_MissingSiteWithSuperUser_Answers200UnexpectedWebsite()
    {
        _matomo.TokenAccess = MatomoTokenAccess.SuperUser;

        var (status, body) = await ApiAsync("SitesManager.getSiteFromId", "&idSite=99");

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Message(body), Is.EqualTo("An unexpected website was found in the request: website id was set to '99' ."));
    }

    [Test]
    public async Task ConfiguredCustomDimensions_MissingSiteWithSuperUser_AnswersEmptyList()
    {
        _matomo.TokenAccess = MatomoTokenAccess.SuperUser;

        var (status, body) = await ApiAsync("CustomDimensions.getConfiguredCustomDimensions", "&idSite=99");

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(body, Is.EqualTo("[]"));
    }

    [Test]
    public async Task AnyMethod_InvalidToken_Answers401HtmlEvenWithFormatJson()
    {
        var (status, body) = await PostAsync("module=API&format=json&method=SitesManager.getSitesIdWithWriteAccess&token_auth=ffffffffffffffffffffffffffffffff");

        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(body, Does.StartWith("<!DOCTYPE html>").And.Contain("<h2>Unable to authenticate with the provided token. It is either invalid or expired.</h2>"));
    }

    [Test]
    public async Task GetMatomoVersion_NoToken_Answers401WithJsonMessage()
    {
        var (status, body) = await PostAsync("module=API&format=json&method=API.getMatomoVersion");

        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(Message(body), Is.EqualTo("You can't access this resource as it requires view access for at least one website."));
    }

    [Test]
    public async Task IsPluginActivated_FollowsThePluginState()
    {
        var (_, before) = await ApiAsync("API.isPluginActivated", "&pluginName=CustomVariables");
        _matomo.CustomVariablesPluginActive = false;
        var (_, after) = await ApiAsync("API.isPluginActivated", "&pluginName=CustomVariables");
        var (_, queued) = await ApiAsync("API.isPluginActivated", "&pluginName=QueuedTracking");

        Assert.That(before, Is.EqualTo("{\"value\":true}"));
        Assert.That(after, Is.EqualTo("{\"value\":false}"));
        Assert.That(queued, Is.EqualTo("{\"value\":false}"));
    }

    private static string? Message(string body)
    {
        var json = JsonDocument.Parse(body).RootElement;
        Assert.That(json.GetProperty("result").GetString(), Is.EqualTo("error"));
        return json.GetProperty("message").GetString();
    }

    private Task<(HttpStatusCode Status, string Body)> ApiAsync(string method, string extra) =>
        PostAsync("module=API&format=json&method=" + method + "&token_auth=" + _matomo.Token + extra);

    private async Task<(HttpStatusCode Status, string Body)> PostAsync(string form)
    {
        using var response = await _http.PostAsync(_matomo.ApiUrl, new StringContent(form, Encoding.UTF8, "application/x-www-form-urlencoded")).WaitAsync(Timeout);
        return (response.StatusCode, await response.Content.ReadAsStringAsync().WaitAsync(Timeout));
    }
}
