using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Matomo.Rpc.Grpc.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.RealMatomo.Tests;

/// <summary>
/// What is sent is what Matomo stores, for hostile text in every field that carries text: the bytes the sender puts on
/// the wire (captured under the tracker's own HttpClient) decode, as Matomo's bulk parsing decodes them, to exactly the
/// values the tracker meant; and Matomo stores from them exactly what it stores from the same values sent with every
/// byte but the RFC 3986 unreserved ones percent-encoded (the classic encoding, sent by the test itself to a second
/// site). With <c>MATOMO_QUEUED=1</c> the queue is processed first (QueuedTracking), and every hit sent is a row.
/// </summary>
public class WireRealMatomoTests : RealMatomoFixture
{
    // Every character with a meaning to a URL, a query, JSON or HTML, white space, control characters, non-ASCII, a
    // 4-byte emoji and a lone surrogate (sent as U+FFFD: UTF-8 cannot carry it).
    private const string Hostile = "& = + # % \" \\ ' < > { } [ ] : / ? @ ; , ~ | ^ ` \t \n %41 %zz a+b é 中 \U0001F600 \uD800 end";
    private const string Meant = "& = + # % \" \\ ' < > { } [ ] : / ? @ ; , ~ | ^ ` \t \n %41 %zz a+b é 中 \U0001F600 \uFFFD end";
    private const string Browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

    [Test]
    public async Task Send_HostileTextInEveryTextField_MatomoStoresWhatTheClassicEncodingStores()
    {
        var site = await NewSiteAsync();
        var reference = await NewSiteAsync();
        var dimension = await Matomo.CreateDimensionAsync(site, "Wire");
        var referenceDimension = await Matomo.CreateDimensionAsync(reference, "Wire");
        var capture = new BodyCapture();
        await using var host = await GrpcTestHost.StartAsync(services =>
        {
            services.AddGrpc();
            services.AddMatomoTracking(o =>
            {
                Track(o, site, TrackingToken);
                o.VisitorIdentity = MatomoVisitorIdentity.UserId;
                o.UserId.Mode = MatomoUserIdMode.Plain;
                o.Privacy.KeepReferrerQuery = true;
                o.Sending.BatchSize = 10;
                o.Sending.FlushInterval = TimeSpan.FromMilliseconds(500);
            });
            services.AddHttpClient(MatomoTracker.HttpClientName).AddHttpMessageHandler(() => new CaptureHandler(capture));
        });
        var tracker = host.Services.GetRequiredService<MatomoTracker>();
        var caller = new MatomoCallerInfo
        {
            UserAgent = Browser + " " + Hostile,
            Language = "de-CH,de;q=0.9," + Hostile,
            UserId = "user " + Hostile,
            Referrer = "https://ref.example/page?q=" + Hostile,
            Host = "wire.example",
            Scheme = "https",
        };

        // A page view with hostile text everywhere, and an event of the same visitor.
        var page = tracker.StartCall(caller, "wire.Hostile/" + Hostile, MatomoCallKind.Unary, "/wire/page")!;
        page.Call.SetVar("dimension" + dimension.ToString(CultureInfo.InvariantCulture), "dim " + Hostile);
        page.Call.AddCustomVariable("name " + Hostile, "value " + Hostile);
        page.Complete(new MatomoOutcome("status " + Hostile, 7));
        var evt = tracker.StartCall(caller, "wire.Hostile/event", MatomoCallKind.Unary, "/wire/event")!;
        evt.Call.SetVar("e_c", "category " + Hostile);
        evt.Call.SetVar("e_a", "action " + Hostile);
        evt.Call.SetVar("e_n", "name " + Hostile);
        evt.Complete(MatomoOutcome.Ok);

        var stats = await WaitUntilAccountedAsync(host.Services, 2);
        Assert.That((stats.Sent, stats.Rejected, stats.Dropped), Is.EqualTo((2L, 0L, 0L)), stats.ToString());

        // 1. The wire, decoded as Matomo decodes it, holds what the tracker meant.
        var sent = capture.Requests();
        Assert.That(sent, Has.Count.EqualTo(2), string.Join(Environment.NewLine, capture.Bodies));
        var view = sent.Single(p => !p.ContainsKey("e_c"));
        var ev = sent.Single(p => p.ContainsKey("e_c"));
        TestContext.Out.WriteLine(string.Join(Environment.NewLine, capture.Bodies));
        Assert.Multiple(() =>
        {
            Assert.That(view["action_name"], Is.EqualTo("wire.Hostile/" + Meant));
            Assert.That(view["ua"], Is.EqualTo(Browser + " " + Meant));
            Assert.That(view["lang"], Is.EqualTo("de-CH,de;q=0.9," + Meant));
            Assert.That(view["uid"], Is.EqualTo("user " + Meant));
            Assert.That(view["urlref"], Is.EqualTo("https://ref.example/page?q=" + Meant));
            Assert.That(view["dimension" + dimension.ToString(CultureInfo.InvariantCulture)], Is.EqualTo("dim " + Meant));
            Assert.That(CustomVariables(view["cvar"]), Is.EqualTo(new[]
            {
                ("status", "status " + Meant + " (7)"), ("kind", "unary"), ("name " + Meant, "value " + Meant),
            }));
            Assert.That((ev["e_c"], ev["e_a"], ev["e_n"]), Is.EqualTo(("category " + Meant, "action " + Meant, "name " + Meant)));
        });

        // 2. The same values, classically encoded, to the reference site.
        await SendClassicAsync(sent, reference, $"dimension{dimension}", $"dimension{referenceDimension}");
        await ProcessQueueIfQueuedAsync();

        var stored = Project(await Matomo.WaitForActionsAsync(site, 2), dimension);
        var expected = Project(await Matomo.WaitForActionsAsync(reference, 2), referenceDimension);
        TestContext.Out.WriteLine(string.Join(Environment.NewLine, stored.Select(kv => kv.Key + " = " + kv.Value)));
        Assert.That(stored, Is.EquivalentTo(expected));

        // 3. And what Matomo shows is the text meant (it only drops line breaks from a page title).
        Assert.Multiple(() =>
        {
            Assert.That(stored["page.pageTitle"], Is.EqualTo("wire.Hostile/" + Meant.Replace("\n", string.Empty, StringComparison.Ordinal)));
            Assert.That(stored["page.customVariables"], Is.EqualTo($"status => status {Meant} (7) | kind => unary | name {Meant} => value {Meant}"));
            Assert.That(stored["page.dimension"], Is.EqualTo("dim " + Meant));
            Assert.That(stored["visit.userId"], Is.EqualTo("user " + Meant));
            Assert.That((stored["event.eventCategory"], stored["event.eventAction"], stored["event.eventName"]),
                Is.EqualTo(("category " + Meant, "action " + Meant, "name " + Meant)));
            Assert.That((stored["visit.browserName"], stored["visit.operatingSystem"]), Is.EqualTo(("Chrome", "GNU/Linux")), "the user agent arrived whole");
            Assert.That(stored["visit.languageCode"], Is.EqualTo("de"), "the language arrived whole");
            Assert.That(stored["visit.actions"], Is.EqualTo(stats.Sent.ToString(CultureInfo.InvariantCulture)), "every hit sent is stored");
        });
    }

    /// <summary>Posts the requests as one bulk request with every name and value percent-encoded but the unreserved characters.</summary>
    private async Task SendClassicAsync(IReadOnlyList<Dictionary<string, string>> requests, int site, string dimension, string referenceDimension)
    {
        var strings = requests.Select(parameters => "?" + string.Join('&', parameters.Select(p =>
        {
            var name = p.Key == dimension ? referenceDimension : p.Key;
            var value = p.Key == "idsite" ? site.ToString(CultureInfo.InvariantCulture) : p.Value;
            return Uri.EscapeDataString(name) + "=" + Uri.EscapeDataString(value);
        })));
        var body = JsonSerializer.Serialize(new Dictionary<string, object> { ["requests"] = strings.ToArray(), ["token_auth"] = TrackingToken });
        using var http = new HttpClient();
        using var content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        using var response = await http.PostAsync(new Uri(Matomo.TrackerUrl), content);
        var answer = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(200), answer);
        if (RealMatomo.Variable("MATOMO_QUEUED") != "1")
        {
            Assert.That(answer, Does.Contain("\"tracked\":2"), answer);
        }
    }

    private static async Task ProcessQueueIfQueuedAsync()
    {
        if (RealMatomo.Variable("MATOMO_QUEUED") != "1")
        {
            return;
        }

        var process = RealMatomo.Variable("MATOMO_QUEUE_PROCESS");
        Assert.That(process, Is.Not.Null, "up.sh with MATOMO_QUEUED=1 writes MATOMO_QUEUE_PROCESS");
        var (exitCode, output) = await RealMatomo.RunAsync(process!, [], TimeSpan.FromMinutes(2));
        Assert.That(exitCode, Is.EqualTo(0), output);
    }

    /// <summary>The stored fields a hit's text reaches, by a name that is the same on both sites.</summary>
    private static Dictionary<string, string> Project(IReadOnlyList<Visit> visits, int dimension)
    {
        Assert.That(visits, Has.Count.EqualTo(1), string.Join(Environment.NewLine, visits));
        var visit = visits[0];
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in new[] { "userId", "visitorId", "languageCode", "language", "browserName", "browserCode", "browserVersion",
                     "operatingSystem", "operatingSystemCode", "deviceType", "referrerType", "referrerName", "referrerUrl", "actions" })
        {
            result["visit." + name] = Text(visit.Json, name);
        }

        foreach (var action in visit.Actions)
        {
            var prefix = action.Type == "event" ? "event." : "page.";
            foreach (var name in new[] { "type", "url", "pageTitle", "title", "eventCategory", "eventAction", "eventName", "timestamp" })
            {
                result[prefix + name] = Text(action.Json, name);
            }

            result[prefix + "customVariables"] = string.Join(" | ", action.CustomVariables.Select(kv => kv.Key + " => " + kv.Value));
            result[prefix + "dimension"] = Text(action.Json, "dimension" + dimension.ToString(CultureInfo.InvariantCulture));
        }

        return result;
    }

    private static string Text(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value) ? value.ToString() : "(none)";

    private static (string Name, string Value)[] CustomVariables(string cvar)
    {
        using var json = JsonDocument.Parse(cvar);
        return json.RootElement.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal)
            .Select(p => (p.Value[0].GetString()!, p.Value[1].GetString()!)).ToArray();
    }

    /// <summary>Keeps the bulk bodies the tracker sends, and reads them as Matomo's BulkTracking does.</summary>
    private sealed class BodyCapture
    {
        private readonly List<string> _bodies = [];

        public IReadOnlyList<string> Bodies
        {
            get
            {
                lock (_bodies)
                {
                    return [.. _bodies];
                }
            }
        }

        public void Add(string body)
        {
            lock (_bodies)
            {
                _bodies.Add(body);
            }
        }

        /// <summary>Every request string of every bulk body: PHP's parse_url, then parse_str.</summary>
        public IReadOnlyList<Dictionary<string, string>> Requests() =>
        [
            .. Bodies.Where(b => b.Contains("\"requests\"", StringComparison.Ordinal)).SelectMany(body =>
            {
                using var json = JsonDocument.Parse(body);
                return json.RootElement.GetProperty("requests").EnumerateArray().Select(r => PhpParse(r.GetString()!)).ToList();
            }),
        ];

        /// <summary>
        /// PHP's <c>parse_url</c> on a "?…" string (the query ends at the first '#'; control characters become '_') and
        /// <c>parse_str</c> ('&amp;' splits, the first '=' splits, '+' is a space, %XX a byte).
        /// </summary>
        private static Dictionary<string, string> PhpParse(string request)
        {
            Assert.That(request, Does.StartWith("?"));
            var query = request[1..];
            var fragment = query.IndexOf('#', StringComparison.Ordinal);
            Assert.That(fragment, Is.EqualTo(-1), "a raw '#' would cut the query: " + request);
            Assert.That(query.All(c => c > ' ' && c < '\u007f'), Is.True, "printable ASCII only (a raw control character would become '_'): " + request);
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                result[UrlDecode(eq < 0 ? pair : pair[..eq])] = eq < 0 ? string.Empty : UrlDecode(pair[(eq + 1)..]);
            }

            return result;
        }

        /// <summary>PHP's urldecode: '+' is a space, %XX (either case) a byte, anything else as it is; then read as UTF-8.</summary>
        private static string UrlDecode(string text)
        {
            var bytes = new List<byte>(text.Length);
            for (var i = 0; i < text.Length; i++)
            {
                var c = text[i];
                if (c == '+')
                {
                    bytes.Add((byte)' ');
                }
                else if (c == '%' && i + 2 < text.Length && Uri.IsHexDigit(text[i + 1]) && Uri.IsHexDigit(text[i + 2]))
                {
                    bytes.Add(byte.Parse(text.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 2;
                }
                else
                {
                    bytes.Add((byte)c);
                }
            }

            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
    }

    /// <summary>Hands each body sent to matomo.php to the capture (one handler per pipeline the factory builds).</summary>
    private sealed class CaptureHandler(BodyCapture capture) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri?.AbsolutePath.EndsWith("matomo.php", StringComparison.Ordinal) == true && request.Content is { } content)
            {
                capture.Add(await content.ReadAsStringAsync(cancellationToken));
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }
}
