using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Matomo.Rpc.RealMatomo.Tests;

/// <summary>
/// The real Matomo the <c>MATOMO_*</c> environment variables name (../shared/matomo/up.sh writes them to its env file):
/// its Reporting API with the super user's token, and <c>MATOMO_SQL</c> where the API does not show a field.
/// </summary>
public sealed class RealMatomo : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private RealMatomo(string url, string trackerUrl, string superUserToken)
    {
        Url = url;
        TrackerUrl = trackerUrl;
        SuperUserToken = superUserToken;
    }

    /// <summary>How long a test waits for Matomo to show what was sent.</summary>
    public static TimeSpan Patience { get; } = TimeSpan.FromSeconds(30);

    public string Url { get; }

    public string TrackerUrl { get; }

    public string SuperUserToken { get; }

    public static string? WriteToken => Variable("MATOMO_TOKEN_WRITE");

    public static string? ViewToken => Variable("MATOMO_TOKEN_VIEW");

    public static string? WriteLogin => Variable("MATOMO_WRITE_LOGIN");

    public static string? ViewLogin => Variable("MATOMO_VIEW_LOGIN");

    public static string? Sql => Variable("MATOMO_SQL");

    public static string? Console => Variable("MATOMO_CONSOLE");

    public static string? Variable(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

    /// <summary>The Matomo of the environment, or <see cref="Assert.Ignore(string)"/> (the test is reported as skipped) without one.</summary>
    public static RealMatomo FromEnvironmentOrIgnore()
    {
        var url = Variable("MATOMO_URL");
        var token = Variable("MATOMO_TOKEN_SUPERUSER");
        if (url is null || token is null)
        {
            Assert.Ignore("No real Matomo: set MATOMO_URL and MATOMO_TOKEN_SUPERUSER (../shared/matomo/up.sh writes them; see the README, \"Testing against a real Matomo\").");
        }

        url = url!.TrimEnd('/');
        return new RealMatomo(url, Variable("MATOMO_TRACKER_URL") ?? url + "/matomo.php", token!);
    }

    /// <summary>Skips the test, with the reason, when one of <paramref name="names"/> is not set.</summary>
    public static void RequireOrIgnore(params string[] names)
    {
        var missing = names.Where(n => Variable(n) is null).ToList();
        if (missing.Count > 0)
        {
            Assert.Ignore($"Needs {string.Join(", ", missing)} (../shared/matomo/up.sh writes them).");
        }
    }

    /// <summary>Calls the Reporting API (token in the POST body) and returns the HTTP status and the JSON answer.</summary>
    public async Task<(int Status, JsonElement Json)> CallAsync(string method, IEnumerable<KeyValuePair<string, string>>? parameters = null, string? token = null)
    {
        var form = new List<KeyValuePair<string, string>> { new("module", "API"), new("method", method), new("format", "json"), new("token_auth", token ?? SuperUserToken) };
        form.AddRange(parameters ?? []);
        using var content = new FormUrlEncodedContent(form);
        using var response = await _http.PostAsync(new Uri(Url + "/index.php"), content);
        var body = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(body);
        return ((int)response.StatusCode, document.RootElement.Clone());
    }

    /// <summary>Calls the Reporting API as the super user and fails the test on an error answer.</summary>
    public async Task<JsonElement> CallOkAsync(string method, params (string Name, string Value)[] parameters)
    {
        var (status, json) = await CallAsync(method, parameters.Select(p => new KeyValuePair<string, string>(p.Name, p.Value)));
        Assert.That(status, Is.EqualTo(200), $"{method}: {json}");
        Assert.That(json.ValueKind == JsonValueKind.Object && json.TryGetProperty("result", out var r) && r.GetString() == "error", Is.False, $"{method}: {json}");
        return json;
    }

    /// <summary>
    /// A new site for one test, so that its hits are the only ones there; the write and view users (when named) get
    /// their access to it.
    /// </summary>
    public async Task<int> CreateSiteAsync(string name)
    {
        var json = await CallOkAsync("SitesManager.addSite", ("siteName", "Matomo.Rpc test " + name), ("urls", "https://" + Guid.NewGuid().ToString("N")[..12] + ".example"), ("timezone", "UTC"));
        var site = int.Parse(json.GetProperty("value").ToString(), CultureInfo.InvariantCulture);
        if (WriteLogin is { } writer)
        {
            await CallOkAsync("UsersManager.setUserAccess", ("userLogin", writer), ("access", "write"), ("idSites", site.ToString(CultureInfo.InvariantCulture)));
        }

        if (ViewLogin is { } viewer)
        {
            await CallOkAsync("UsersManager.setUserAccess", ("userLogin", viewer), ("access", "view"), ("idSites", site.ToString(CultureInfo.InvariantCulture)));
        }

        return site;
    }

    /// <summary>Creates a custom dimension on <paramref name="site"/> and returns its id.</summary>
    public async Task<int> CreateDimensionAsync(int site, string name, string scope = "action", bool active = true)
    {
        var json = await CallOkAsync("CustomDimensions.configureNewCustomDimension",
            ("idSite", site.ToString(CultureInfo.InvariantCulture)), ("name", name), ("scope", scope), ("active", active ? "1" : "0"));
        return int.Parse(json.GetProperty("value").ToString(), CultureInfo.InvariantCulture);
    }

    /// <summary>Every visit of <paramref name="site"/> with its actions (Live.getLastVisitsDetails), oldest first.</summary>
    public async Task<IReadOnlyList<Visit>> VisitsAsync(int site)
    {
        var json = await CallOkAsync("Live.getLastVisitsDetails", ("idSite", site.ToString(CultureInfo.InvariantCulture)), ("filter_limit", "-1"), ("showColumns", string.Empty));
        return json.EnumerateArray().Select(v => new Visit(v)).OrderBy(v => v.Id).ToList();
    }

    /// <summary>Polls Matomo until <paramref name="site"/> holds at least <paramref name="count"/> actions, or fails after <see cref="Patience"/>.</summary>
    public async Task<IReadOnlyList<Visit>> WaitForActionsAsync(int site, int count, TimeSpan? patience = null)
    {
        var deadline = Stopwatch.StartNew();
        IReadOnlyList<Visit> visits;
        while (true)
        {
            visits = await VisitsAsync(site);
            var actions = visits.Sum(v => v.Actions.Count);
            if (actions >= count)
            {
                return visits;
            }

            if (deadline.Elapsed > (patience ?? Patience))
            {
                Assert.Fail($"Matomo shows {actions} of {count} actions for site {site} after {deadline.Elapsed}: {string.Join(" | ", visits.SelectMany(v => v.Actions).Select(a => a.Title))}");
            }

            await Task.Delay(PollInterval);
        }
    }

    /// <summary>Runs SQL on Matomo's database through <c>MATOMO_SQL</c>; the rows, without the header line, split at tabs.</summary>
    public static async Task<IReadOnlyList<string[]>> SqlAsync(string sql)
    {
        var script = Sql ?? throw new InvalidOperationException("MATOMO_SQL is not set.");
        var result = await RunAsync(script, [sql], TimeSpan.FromSeconds(30));
        Assert.That(result.ExitCode, Is.EqualTo(0), $"MATOMO_SQL failed: {result.Output}");
        return result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split('\t')).ToList();
    }

    /// <summary>Runs a program, with a timeout, and returns its exit code and its output (stdout and stderr).</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("Cannot start " + program);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish within {timeout}.");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>One visit as Live.getLastVisitsDetails shows it.</summary>
public sealed class Visit(JsonElement json)
{
    public JsonElement Json { get; } = json;

    public int Id => Json.GetProperty("idVisit").GetInt32();

    public string VisitorId => Json.GetProperty("visitorId").GetString()!;

    public string VisitIp => Json.GetProperty("visitIp").GetString()!;

    public IReadOnlyList<MatomoAction> Actions => Json.GetProperty("actionDetails").EnumerateArray().Select(a => new MatomoAction(a, this)).ToList();

    public override string ToString() => $"visit {Id} ({VisitorId}, {VisitIp}): {string.Join(", ", Actions.Select(a => a.Title))}";
}

/// <summary>One action of a visit: a page view (a call) or an event (a SignalR connect or disconnect).</summary>
public sealed class MatomoAction(JsonElement json, Visit visit)
{
    public JsonElement Json { get; } = json;

    public Visit Visit { get; } = visit;

    public string Type => Json.GetProperty("type").GetString()!;

    /// <summary>The page title (the action name) of a page view, or "Event".</summary>
    public string? Title => Json.TryGetProperty("pageTitle", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : Json.GetProperty("title").GetString();

    public string? Url => Json.TryGetProperty("url", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;

    public DateTimeOffset Time => DateTimeOffset.FromUnixTimeSeconds(Json.GetProperty("timestamp").GetInt64());

    public string? Field(string name) => Json.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v.ToString() : null;

    /// <summary>The action-scoped custom variables, name to value.</summary>
    public IReadOnlyDictionary<string, string> CustomVariables
    {
        get
        {
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            if (Json.TryGetProperty("customVariables", out var vars) && vars.ValueKind == JsonValueKind.Object)
            {
                foreach (var slot in vars.EnumerateObject())
                {
                    result[slot.Value.GetProperty("customVariablePageName" + slot.Name).ToString()] = slot.Value.GetProperty("customVariablePageValue" + slot.Name).ToString();
                }
            }

            return result;
        }
    }

    public override string ToString() => $"{Type} {Title} {Url} {string.Join(",", CustomVariables.Select(kv => kv.Key + "=" + kv.Value))}";
}
