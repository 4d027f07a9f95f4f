using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Matomo.Rpc.TestSupport;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>The stand-in must behave like MATOMO.md's Matomo, or every test built on it lies.</summary>
[TestFixture]
public class MatomoStandInTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private MatomoStandIn _matomo = null!;
    private HttpClient _http = null!;

    [SetUp]
    public async Task SetUp()
    {
        _matomo = await MatomoStandIn.StartAsync().WaitAsync(Timeout);
        _http = new HttpClient { Timeout = Timeout };
    }

    [TearDown]
    public async Task TearDown()
    {
        _http.Dispose();
        await _matomo.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    private Task<HttpResponseMessage> PostFormAsync(string form, string? query = null) =>
        _http.PostAsync(_matomo.TrackerUrl + query, new StringContent(form, Encoding.UTF8, "application/x-www-form-urlencoded")).WaitAsync(Timeout);

    private Task<HttpResponseMessage> GetAsync(string query) => _http.GetAsync(_matomo.TrackerUrl + query).WaitAsync(Timeout);

    private async Task<(HttpStatusCode Status, JsonElement Answer)> PostBulkAsync(object body)
    {
        using var response = await _http.PostAsync(_matomo.TrackerUrl,
            new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json")).WaitAsync(Timeout);
        var text = await response.Content.ReadAsStringAsync().WaitAsync(Timeout);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Test]
    public void StartAsync_Always_ListensOnLoopbackWithMatomoPhp()
    {
        var url = new Uri(_matomo.TrackerUrl);

        Assert.That(url.Host, Is.EqualTo("127.0.0.1"));
        Assert.That(url.Port, Is.GreaterThan(0));
        Assert.That(url.AbsolutePath, Is.EqualTo("/matomo.php"));
        Assert.That(_matomo.SiteId, Is.EqualTo(1));
    }

    [Test]
    public async Task Track_FormPost_StoresDecodedHitAndAnswersGif()
    {
        using var response = await PostFormAsync("idsite=1&rec=1&action_name=a%2Fb+c&url=https%3A%2F%2Fx%2Fy");
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("image/gif"));
        Assert.That(body, Has.Length.EqualTo(43));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
        Assert.That(_matomo.Hits[0]["action_name"], Is.EqualTo("a/b c"));
        Assert.That(_matomo.Hits[0]["url"], Is.EqualTo("https://x/y"));
    }

    [Test]
    public async Task Track_SendImageZero_Answers204Empty()
    {
        using var response = await GetAsync("?idsite=1&rec=1&send_image=0");
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        Assert.That(body, Is.Empty);
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Track_QueryAndBody_QueryWins()
    {
        using var response = await PostFormAsync("idsite=1&rec=1&action_name=body", "?action_name=query");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits[0]["action_name"], Is.EqualTo("query"));
    }

    [TestCase("?rec=1", TestName = "Track_IdsiteMissing_Answers400")]
    [TestCase("?idsite=2&rec=1", TestName = "Track_IdsiteUnknown_Answers400")]
    [TestCase("?idsite=abc&rec=1", TestName = "Track_IdsiteNotANumber_Answers400")]
    [TestCase("?idsite=1&rec=1&cid=xyz", TestName = "Track_CidNotHex_Answers400")]
    [TestCase("?idsite=1&rec=1&cid=0123456789abcdef0", TestName = "Track_Cid17Chars_Answers400")]
    [TestCase("?idsite=1&rec=1&cip=10.0.0.1", TestName = "Track_CipWithoutToken_Answers400")]
    [TestCase("?idsite=1&rec=1&cip=10.0.0.1&token_auth=wrong", TestName = "Track_CipWithWrongToken_Answers400")]
    [TestCase("?idsite=1&rec=1&cdt=2001-01-01%2000%3A00%3A00", TestName = "Track_OldCdtWithoutToken_Answers400")]
    [TestCase("?idsite=1&rec=1&pf_srv=-1", TestName = "Track_NegativePfSrv_Answers400")]
    public async Task Track_Rejected_Answers400GenericHtmlAndStoresNothing(string query)
    {
        using var response = await GetAsync(query);
        var body = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/html"));
        Assert.That(body, Does.Not.Contain("cid").And.Not.Contain("idsite").And.Not.Contain("token"));
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [Test]
    public async Task Track_CipAndOldCdtWithValidTokenInBody_Stored()
    {
        var form = "idsite=1&rec=1&cip=10.0.0.1&cdt=" + Uri.EscapeDataString(DateTime.UtcNow.AddDays(-2).ToString("yyyy-MM-dd HH:mm:ss")) + "&token_auth=" + _matomo.Token;

        using var response = await PostFormAsync(form);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
        Assert.That(_matomo.Hits[0].Time, Is.LessThan(DateTimeOffset.UtcNow.AddDays(-1)));
        Assert.That(_matomo.Requests[0].TokenInUrl, Is.False);
    }

    [Test]
    public async Task Track_TokenInUrl_RecordedAsTokenInUrl()
    {
        using var response = await GetAsync("?idsite=1&rec=1&token_auth=" + _matomo.Token);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Requests[0].TokenInUrl, Is.True);
    }

    [Test]
    public async Task Track_RecentCdtWithoutToken_StoredAtThatTime()
    {
        var at = DateTimeOffset.UtcNow.AddHours(-3);
        var cdt = Uri.EscapeDataString(at.ToString("yyyy-MM-dd HH:mm:ss"));

        using var response = await GetAsync("?idsite=1&rec=1&cdt=" + cdt);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits[0].Time, Is.EqualTo(at).Within(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public async Task Track_WrongTokenWithoutCip_IgnoredAndStored()
    {
        using var response = await PostFormAsync("idsite=1&rec=1&token_auth=wrong");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Track_RecMissing_AnswersSuccessButStoresNothing()
    {
        using var image = await GetAsync("?idsite=1&action_name=x");
        using var noImage = await GetAsync("?idsite=1&action_name=x&send_image=0");

        Assert.That(image.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(noImage.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [Test]
    public async Task Track_GetWithoutParameters_Answers200AndStoresNothing()
    {
        using var response = await GetAsync(string.Empty);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [Test]
    public async Task Track_PiwikPhp_Accepted()
    {
        using var response = await _http.GetAsync(_matomo.TrackerUrl.Replace("matomo.php", "piwik.php") + "?idsite=1&rec=1").WaitAsync(Timeout);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Track_SingleHitAsJson_Answers400()
    {
        using var response = await _http.PostAsync(_matomo.TrackerUrl,
            new StringContent("{\"idsite\":1,\"rec\":1}", Encoding.UTF8, "application/json")).WaitAsync(Timeout);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [TestCase("", "application/x-www-form-urlencoded", TestName = "Track_PostEmptyBody_Answers400")]
    [TestCase("{\"foo\":1}", "application/json", TestName = "Track_PostJsonWithoutRequests_Answers400")]
    [TestCase("{\"request\":[\"?idsite=1&rec=1\"]}", "application/json", TestName = "Track_PostJsonWithMisspelledRequests_Answers400")]
    [TestCase("\"requests\":[\"?idsite=1&rec=1\"]", "application/json", TestName = "Track_PostRequestsAtPositionZero_NotBulkAnswers400")]
    [TestCase("idsite=1&rec=1", "text/plain", TestName = "Track_PostFormTextAsTextPlain_IgnoredAnswers400")]
    [TestCase("<html>blocked</html>", "text/html", TestName = "Track_PostHtml_Answers400")]
    public async Task Track_PostBodyNotABulkRequestAndNoParameters_Answers400AndStoresNothing(string body, string contentType)
    {
        using var response = await _http.PostAsync(_matomo.TrackerUrl, new StringContent(body, Encoding.UTF8, contentType)).WaitAsync(Timeout);
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(text, Does.StartWith("This resource is part of Matomo"));
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [Test]
    public async Task Track_JsonBodyWithQueryParameters_StoredFromTheQuery()
    {
        using var response = await _http.PostAsync(_matomo.TrackerUrl + "?idsite=1&rec=1&action_name=q",
            new StringContent("{\"idsite\":7}", Encoding.UTF8, "application/json")).WaitAsync(Timeout);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits.Single()["action_name"], Is.EqualTo("q"));
    }

    [Test]
    public async Task Track_CaOne_Answers500AndStoresNothing()
    {
        using var response = await GetAsync("?idsite=1&rec=1&ca=1&cra=boom");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [Test]
    public async Task Track_InvalidUnderscoreId_HitStoredWithoutIt()
    {
        using var response = await GetAsync("?idsite=1&rec=1&_id=nothex");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
        Assert.That(_matomo.Hits[0].Has("_id"), Is.False);
    }

    [Test]
    public async Task Track_ValidCid_Stored()
    {
        using var response = await GetAsync("?idsite=1&rec=1&cid=0123456789ABCDEF");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits[0]["cid"], Is.EqualTo("0123456789ABCDEF"));
    }

    [Test]
    public async Task Track_CvarInMatomoShape_StoresCustomVariables()
    {
        var cvar = Uri.EscapeDataString("{\"1\":[\"status\",\"OK (0)\"],\"2\":[\"kind\",\"unary\"]}");

        using var response = await GetAsync("?idsite=1&rec=1&cvar=" + cvar);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits[0].CustomVariables, Is.EqualTo(new[]
        {
            new KeyValuePair<string, string>("status", "OK (0)"),
            new KeyValuePair<string, string>("kind", "unary"),
        }));
        Assert.That(_matomo.Hits[0].CustomVariablesDropped, Is.False);
        Assert.That(_matomo.Hits[0].CustomVariable("kind"), Is.EqualTo("unary"));
    }

    [TestCase("{\"http_status_code\":200}")]
    [TestCase("{\"1\":\"flat\"}")]
    [TestCase("[[\"a\",\"b\"]]")]
    [TestCase("{\"1\":[\"a\",\"b\",\"c\"]}")]
    [TestCase("{\"6\":[\"a\",\"b\"]}")]
    [TestCase("not json")]
    public async Task Track_CvarInOtherShape_HitStoredButVariablesDropped(string cvar)
    {
        using var response = await GetAsync("?idsite=1&rec=1&cvar=" + Uri.EscapeDataString(cvar));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
        Assert.That(_matomo.Hits[0].CustomVariables, Is.Empty);
        Assert.That(_matomo.Hits[0].CustomVariablesDropped, Is.True);
    }

    [Test]
    public async Task Track_CvarWithPluginInactive_NothingStored()
    {
        _matomo.CustomVariablesPluginActive = false;

        using var response = await GetAsync("?idsite=1&rec=1&cvar=" + Uri.EscapeDataString("{\"1\":[\"a\",\"b\"]}"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits[0].CustomVariables, Is.Empty);
        Assert.That(_matomo.Hits[0].CustomVariablesDropped, Is.True);
    }

    [Test]
    public async Task Track_Dimensions_OnlyConfiguredActiveOnesStoredTrimmedAndCut()
    {
        _matomo.Dimensions.Add(new ConfiguredDimension(1, 1));
        _matomo.Dimensions.Add(new ConfiguredDimension(2, 2, Active: false));
        var longValue = new string('x', 300);

        using var response = await GetAsync("?idsite=1&rec=1&dimension1=" + Uri.EscapeDataString("  " + longValue + " ") + "&dimension2=b&dimension3=c");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits[0].Dimensions.Keys, Is.EquivalentTo(new[] { 1 }));
        Assert.That(_matomo.Hits[0].Dimensions[1], Is.EqualTo(new string('x', 250)));
    }

    [TestCase("12", 12L)]
    [TestCase("12.5", null)]
    [TestCase("16777216", null)]
    public async Task Track_PfSrv_StoredOnlyAsInteger(string value, long? expected)
    {
        using var response = await GetAsync("?idsite=1&rec=1&pf_srv=" + value);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits[0].ServerTimeMs, Is.EqualTo(expected));
    }

    [Test]
    public async Task Track_PfSrvOnEvent_NotStored()
    {
        using var response = await GetAsync("?idsite=1&rec=1&e_c=hub&e_a=connect&pf_srv=5");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits[0].ServerTimeMs, Is.Null);
    }

    [Test]
    public async Task Track_BotUserAgentWithoutBotsParameter_SuccessButNotStored()
    {
        using var excluded = await GetAsync("?idsite=1&rec=1&ua=Googlebot%2F2.1");
        using var kept = await GetAsync("?idsite=1&rec=1&ua=Googlebot%2F2.1&bots=1");

        Assert.That(excluded.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(kept.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Bulk_ValidHits_AnswersTrackedAndStoresInOrder()
    {
        var (status, answer) = await PostBulkAsync(new { requests = new[] { "?idsite=1&rec=1&action_name=a", "?idsite=1&rec=1&action_name=b" } });

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(answer.GetProperty("status").GetString(), Is.EqualTo("success"));
        Assert.That(answer.GetProperty("tracked").GetInt32(), Is.EqualTo(2));
        Assert.That(answer.GetProperty("invalid").GetInt32(), Is.EqualTo(0));
        Assert.That(answer.TryGetProperty("invalid_indices", out _), Is.False);
        Assert.That(_matomo.Hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(_matomo.Hits.All(h => h.Bulk), Is.True);
    }

    [Test]
    public async Task Bulk_InvalidHitsWithoutToken_CountedInvalidWithoutIndices()
    {
        var (status, answer) = await PostBulkAsync(new
        {
            requests = new[] { "?idsite=1&rec=1&action_name=a", "?idsite=9&rec=1", "?idsite=1&rec=1&cid=zz", "?idsite=1&rec=1&cip=1.2.3.4", "?idsite=1&rec=1&cdt=1000000000" },
        });

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(answer.GetProperty("tracked").GetInt32(), Is.EqualTo(1));
        Assert.That(answer.GetProperty("invalid").GetInt32(), Is.EqualTo(4));
        Assert.That(answer.TryGetProperty("invalid_indices", out _), Is.False);
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Bulk_OneBadHitAmongGoodOnes_Answers200CountsItInvalidAndStoresTheOthers()
    {
        var (status, answer) = await PostBulkAsync(new { requests = new[] { "?idsite=1&rec=1&action_name=a", "?idsite=1&rec=1&cid=zz", "?idsite=1&rec=1&action_name=c" } });

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), "a bad hit inside a bulk request is never a 400");
        Assert.That(answer.GetProperty("tracked").GetInt32(), Is.EqualTo(2));
        Assert.That(answer.GetProperty("invalid").GetInt32(), Is.EqualTo(1));
        Assert.That(_matomo.Hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "a", "c" }));
    }

    [Test]
    public async Task Bulk_BodySentAsTextPlain_TakenAsBulk()
    {
        using var response = await _http.PostAsync(_matomo.TrackerUrl,
            new StringContent("{\"requests\":[\"?idsite=1&rec=1&action_name=a\"]}", Encoding.UTF8, "text/plain")).WaitAsync(Timeout);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits.Single()["action_name"], Is.EqualTo("a"));
    }

    [Test]
    public async Task Bulk_Strings_ParsedAsParseUrlThenParseStr()
    {
        var (status, answer) = await PostBulkAsync(new
        {
            requests = new[]
            {
                // parse_url: the query ends at the first '#', and control characters become '_'; parse_str: '+' is a space.
                "?idsite=1&rec=1&action_name=a+b:c/d?e,{f}[g]@h#i&action_name=cut",
                "?idsite=1&rec=1&action_name=x\ty\nz",
                // The same text, encoded as the tracker used to (every byte but the unreserved ones) and as it does now.
                "?idsite=1&rec=1&action_name=p%20q%3Ar%2Fs%2B%26%23",
                "?idsite=1&rec=1&action_name=p+q:r/s%2B%26%23",
                // No query once the fragment is cut: dropped, as a string without '?' is.
                "?#idsite=1&rec=1&action_name=dropped",
            },
        });

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(answer.GetProperty("tracked").GetInt32(), Is.EqualTo(4));
        Assert.That(_matomo.Hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "a b:c/d?e,{f}[g]@h", "x_y_z", "p q:r/s+&#", "p q:r/s+&#" }));
    }

    [Test]
    public async Task Bulk_StringWithoutQuestionMark_SilentlyDroppedAndShiftsIndices()
    {
        var (status, answer) = await PostBulkAsync(new
        {
            requests = new[] { "idsite=1&rec=1&action_name=dropped", "?idsite=1&rec=1&action_name=kept", "?idsite=9&rec=1" },
            token_auth = _matomo.Token,
        });

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(answer.GetProperty("tracked").GetInt32(), Is.EqualTo(1));
        Assert.That(answer.GetProperty("invalid").GetInt32(), Is.EqualTo(1));
        Assert.That(answer.GetProperty("invalid_indices").EnumerateArray().Select(e => e.GetInt32()), Is.EqualTo(new[] { 1 }));
        Assert.That(_matomo.Hits.Select(h => h["action_name"]), Is.EqualTo(new[] { "kept" }));
    }

    [Test]
    public async Task Bulk_TokenInBody_AppliesToEveryHit()
    {
        var (status, answer) = await PostBulkAsync(new
        {
            requests = new[] { "?idsite=1&rec=1&cip=10.1.2.3", "?idsite=1&rec=1&cip=10.1.2.4" },
            token_auth = _matomo.Token,
        });

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(answer.GetProperty("tracked").GetInt32(), Is.EqualTo(2));
        Assert.That(answer.GetProperty("invalid_indices").GetArrayLength(), Is.EqualTo(0));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(2));
        Assert.That(_matomo.Requests.Single().TokenInUrl, Is.False);
    }

    [Test]
    public async Task Bulk_WrongTokenWithoutCip_HitsRecorded()
    {
        var (status, answer) = await PostBulkAsync(new { requests = new[] { "?idsite=1&rec=1" }, token_auth = "wrong" });

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(answer.GetProperty("tracked").GetInt32(), Is.EqualTo(1));
        Assert.That(answer.TryGetProperty("invalid_indices", out _), Is.False);
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Bulk_TokenWithoutWriteAccess_CipInvalid()
    {
        _matomo.TokenAccess = MatomoTokenAccess.View;

        var (_, answer) = await PostBulkAsync(new { requests = new[] { "?idsite=1&rec=1&cip=10.1.2.3" }, token_auth = _matomo.Token });

        Assert.That(answer.GetProperty("invalid").GetInt32(), Is.EqualTo(1));
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [Test]
    public async Task Bulk_MalformedJson_Answers200TrackedZero()
    {
        using var response = await _http.PostAsync(_matomo.TrackerUrl,
            new StringContent("{\"requests\":[\"?idsite=1&rec=1\"", Encoding.UTF8, "application/json")).WaitAsync(Timeout);
        var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(answer.GetProperty("tracked").GetInt32(), Is.EqualTo(0));
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [Test]
    public async Task Bulk_PoisonedHit_RollsBackWholeBatchWith500()
    {
        _matomo.PoisonWhen = p => p.TryGetValue("action_name", out var a) && a.Contains("poison");

        var (status, answer) = await PostBulkAsync(new { requests = new[] { "?idsite=1&rec=1&action_name=a", "?idsite=1&rec=1&action_name=poison", "?idsite=1&rec=1&action_name=c" } });

        Assert.That(status, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(answer.GetProperty("status").GetString(), Is.EqualTo("error"));
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [Test]
    public async Task Bulk_CaOne_RollsBackWholeBatchWith500()
    {
        var (status, _) = await PostBulkAsync(new { requests = new[] { "?idsite=1&rec=1&action_name=a", "?idsite=1&rec=1&ca=1&cra=x" } });

        Assert.That(status, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(_matomo.Hits, Is.Empty);
    }

    [Test]
    public async Task Requests_EveryRequest_RecordedWithStatusAndBody()
    {
        using var ok = await PostFormAsync("idsite=1&rec=1");
        using var bad = await GetAsync("?rec=1");

        var requests = _matomo.Requests;

        Assert.That(requests.Select(r => r.StatusCode), Is.EqualTo(new[] { 200, 400 }));
        Assert.That(requests[0].Method, Is.EqualTo("POST"));
        Assert.That(requests[0].Body, Is.EqualTo("idsite=1&rec=1"));
        Assert.That(requests[1].QueryString, Is.EqualTo("?rec=1"));
        Assert.That(requests[1].Path, Is.EqualTo("/matomo.php"));
    }

    [TestCase(503)]
    [TestCase(502)]
    [TestCase(500)]
    public async Task FailWith_Status_AnswersItAndStoresNothing(int status)
    {
        _matomo.FailWith = status;

        var (answered, _) = await PostBulkAsyncRaw(new { requests = new[] { "?idsite=1&rec=1" } });

        Assert.That((int)answered, Is.EqualTo(status));
        Assert.That(_matomo.Hits, Is.Empty);
        Assert.That(_matomo.Requests.Single().ResponseBody, Does.Not.Contain("tracked"));
        Assert.That(_matomo.Requests.Single().StatusCode, Is.EqualTo(status));
    }

    [Test]
    public async Task FailWith_429_AddsRetryAfterAndNullRestores()
    {
        _matomo.FailWith = 429;

        using var failed = await GetAsync("?idsite=1&rec=1");
        _matomo.FailWith = null;
        using var recovered = await GetAsync("?idsite=1&rec=1");

        Assert.That((int)failed.StatusCode, Is.EqualTo(429));
        Assert.That(failed.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(recovered.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Latency_Set_DelaysTheAnswer()
    {
        _matomo.Latency = TimeSpan.FromMilliseconds(300);
        var watch = System.Diagnostics.Stopwatch.StartNew();

        using var response = await GetAsync("?idsite=1&rec=1");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(watch.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(290)));
    }

    [Test]
    public async Task StopAsync_ThenRestartAsync_RefusedThenSamePort()
    {
        var url = _matomo.TrackerUrl;

        await _matomo.StopAsync().WaitAsync(Timeout);
        var refused = Assert.ThrowsAsync<HttpRequestException>(() => _http.GetAsync(url + "?idsite=1&rec=1").WaitAsync(Timeout));
        await _matomo.RestartAsync().WaitAsync(Timeout);
        using var response = await _http.GetAsync(url + "?idsite=1&rec=1").WaitAsync(Timeout);

        Assert.That(refused!.InnerException, Is.InstanceOf<SocketException>());
        Assert.That(((SocketException)refused.InnerException!).SocketErrorCode, Is.EqualTo(SocketError.ConnectionRefused));
        Assert.That(_matomo.TrackerUrl, Is.EqualTo(url));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task WaitForHitsAsync_HitsArriveLater_Completes()
    {
        var wait = _matomo.WaitForHitsAsync(2, Timeout);

        using var first = await GetAsync("?idsite=1&rec=1");
        using var second = await GetAsync("?idsite=1&rec=1");
        var hits = await wait.WaitAsync(Timeout);

        Assert.That(hits, Has.Count.EqualTo(2));
    }

    [Test]
    public void WaitForHitsAsync_TooFew_ThrowsTimeout()
    {
        Assert.ThrowsAsync<TimeoutException>(() => _matomo.WaitForHitsAsync(1, TimeSpan.FromMilliseconds(100)).WaitAsync(Timeout));
    }

    [Test]
    public async Task Track_ConcurrentRequests_AllStored()
    {
        var tasks = Enumerable.Range(0, 50).Select(async i =>
        {
            using var response = await GetAsync("?idsite=1&rec=1&action_name=" + i);
            return response.StatusCode;
        });

        var statuses = await Task.WhenAll(tasks).WaitAsync(Timeout);

        Assert.That(statuses, Has.All.EqualTo(HttpStatusCode.OK));
        Assert.That(_matomo.Hits.Select(h => h["action_name"]), Is.EquivalentTo(Enumerable.Range(0, 50).Select(i => i.ToString())));
    }

    private async Task<(HttpStatusCode Status, string Body)> PostBulkAsyncRaw(object body)
    {
        using var response = await _http.PostAsync(_matomo.TrackerUrl,
            new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json")).WaitAsync(Timeout);
        return (response.StatusCode, await response.Content.ReadAsStringAsync().WaitAsync(Timeout));
    }

    private async Task<(HttpStatusCode Status, string Body)> ApiAsync(string form)
    {
        using var response = await _http.PostAsync(_matomo.ApiUrl,
            new StringContent(form, Encoding.UTF8, "application/x-www-form-urlencoded")).WaitAsync(Timeout);
        return (response.StatusCode, await response.Content.ReadAsStringAsync().WaitAsync(Timeout));
    }

    private string Api(string method, string extra = "") => "module=API&format=json&method=" + method + "&token_auth=" + _matomo.Token + extra;

    [Test]
    public async Task Api_GetMatomoVersion_AnswersSettableVersion()
    {
        _matomo.Version = "4.16.0";

        var (status, body) = await ApiAsync(Api("API.getMatomoVersion"));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(body, Is.EqualTo("{\"value\":\"4.16.0\"}"));
        Assert.That(_matomo.Requests.Single().TokenInUrl, Is.False);
    }

    [Test]
    public async Task Api_WrongToken_Answers401Html()
    {
        var (status, body) = await ApiAsync("module=API&format=json&method=API.getMatomoVersion&token_auth=wrong");

        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(body, Does.Contain("Unable to authenticate with the provided token"));
    }

    [Test]
    public async Task Api_UnknownMethod_Answers200ResultError()
    {
        var (status, body) = await ApiAsync(Api("Foo.bar"));
        var json = JsonDocument.Parse(body).RootElement;

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json.GetProperty("result").GetString(), Is.EqualTo("error"));
        Assert.That(json.GetProperty("message").GetString(), Does.StartWith("The method 'bar' does not exist"));
    }

    [Test]
    public async Task Api_GetSiteFromId_KnownAndUnknown()
    {
        _matomo.TokenAccess = MatomoTokenAccess.SuperUser;
        var (_, known) = await ApiAsync(Api("SitesManager.getSiteFromId", "&idSite=1"));
        var (status, unknown) = await ApiAsync(Api("SitesManager.getSiteFromId", "&idSite=7"));

        Assert.That(JsonDocument.Parse(known).RootElement.GetProperty("idsite").GetInt32(), Is.EqualTo(1));
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(JsonDocument.Parse(unknown).RootElement.GetProperty("message").GetString(),
            Is.EqualTo("An unexpected website was found in the request: website id was set to '7' ."));
    }

    [TestCase(MatomoTokenAccess.Write, "[1]", "[]", "{\"value\":false}")]
    [TestCase(MatomoTokenAccess.Admin, "[]", "[1]", "{\"value\":false}")]
    [TestCase(MatomoTokenAccess.SuperUser, "[]", "[1]", "{\"value\":true}")]
    [TestCase(MatomoTokenAccess.View, "[]", "[]", "{\"value\":false}")]
    public async Task Api_AccessMethods_FollowTokenAccess(MatomoTokenAccess access, string write, string admin, string super)
    {
        _matomo.TokenAccess = access;

        var (_, writeAnswer) = await ApiAsync(Api("SitesManager.getSitesIdWithWriteAccess"));
        var (_, adminAnswer) = await ApiAsync(Api("SitesManager.getSitesIdWithAdminAccess"));
        var (_, superAnswer) = await ApiAsync(Api("UsersManager.hasSuperUserAccess"));

        Assert.That(writeAnswer, Is.EqualTo(write));
        Assert.That(adminAnswer, Is.EqualTo(admin));
        Assert.That(superAnswer, Is.EqualTo(super));
    }

    [Test]
    public async Task Api_ConfiguredCustomDimensions_ListsDimensions()
    {
        _matomo.Dimensions.Add(new ConfiguredDimension(3, 1, "visit"));

        var (_, body) = await ApiAsync(Api("CustomDimensions.getConfiguredCustomDimensions", "&idSite=1"));
        var dimension = JsonDocument.Parse(body).RootElement.EnumerateArray().Single();

        Assert.That(dimension.GetProperty("idcustomdimension").GetString(), Is.EqualTo("3"));
        Assert.That(dimension.GetProperty("index").GetString(), Is.EqualTo("1"));
        Assert.That(dimension.GetProperty("scope").GetString(), Is.EqualTo("visit"));
        Assert.That(dimension.GetProperty("active").GetBoolean(), Is.True);
    }

    [Test]
    public async Task Api_UsagesOfSlots_DependsOnPlugin()
    {
        _matomo.TokenAccess = MatomoTokenAccess.Admin;
        var (_, active) = await ApiAsync(Api("CustomVariables.getUsagesOfSlots", "&idSite=1"));
        _matomo.CustomVariablesPluginActive = false;
        var (status, inactive) = await ApiAsync(Api("CustomVariables.getUsagesOfSlots", "&idSite=1"));

        Assert.That(JsonDocument.Parse(active).RootElement.GetArrayLength(), Is.EqualTo(10));
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(JsonDocument.Parse(inactive).RootElement.GetProperty("message").GetString(), Does.StartWith("The plugin CustomVariables is not enabled"));
    }
}
