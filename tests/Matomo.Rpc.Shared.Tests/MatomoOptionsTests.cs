using Matomo.Rpc.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>Validation at start through AddMatomoTracking + ValidateOnStart: every message names the key.</summary>
[TestFixture]
public class MatomoOptionsTests
{
    private const string Token = "s3cr3t-t0ken-value";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static void Valid(MatomoOptions o)
    {
        o.TrackerUrl = "https://matomo.example.org/matomo.php";
        o.SiteId = 1;
    }

    private static async Task<Exception?> StartHostAsync(Action<IServiceCollection> register)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        register(builder.Services);
        using var host = builder.Build();
        try
        {
            await host.StartAsync().WaitAsync(Timeout);
            await host.StopAsync().WaitAsync(Timeout);
            return null;
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException)
        {
            return ex;
        }
    }

    private static Task<Exception?> StartAsync(Action<MatomoOptions> configure) => StartHostAsync(s => s.AddMatomoTracking(o =>
    {
        Valid(o);
        configure(o);
    }));

    private static async Task<string> FailureAsync(Action<MatomoOptions> configure)
    {
        var ex = await StartAsync(configure);
        Assert.That(ex, Is.InstanceOf<OptionsValidationException>(), "the host started although the options are invalid");
        return ex!.Message;
    }

    [Test]
    public async Task Start_ValidOptions_Starts()
    {
        var ex = await StartAsync(_ => { });

        Assert.That(ex, Is.Null);
    }

    [Test]
    public async Task Start_TrackerUrlMissing_NamesTrackerUrlAndLogOnly()
    {
        var message = await FailureAsync(o => o.TrackerUrl = null);

        Assert.That(message, Does.Contain("Matomo:TrackerUrl is not set").And.Contain("Matomo:LogOnly"));
    }

    [Test]
    public async Task Start_LogOnlyWithoutTrackerUrl_Starts()
    {
        var ex = await StartAsync(o =>
        {
            o.TrackerUrl = null;
            o.LogOnly = true;
        });

        Assert.That(ex, Is.Null);
    }

    [TestCase("matomo.php")]
    [TestCase("/matomo.php")]
    [TestCase("ftp://matomo.example.org/matomo.php")]
    [TestCase("not a url")]
    public async Task Start_TrackerUrlNotAbsoluteHttp_NamesTrackerUrl(string url)
    {
        var message = await FailureAsync(o => o.TrackerUrl = url);

        Assert.That(message, Does.Contain("Matomo:TrackerUrl is not an absolute http or https URL"));
    }

    [Test]
    public async Task Start_TrackerUrlWithUserInfo_NamesTrackerUrlWithoutPassword()
    {
        var message = await FailureAsync(o => o.TrackerUrl = "https://user:pa55word@matomo.example.org/matomo.php");

        Assert.That(message, Does.Contain("Matomo:TrackerUrl contains a user name or password"));
        Assert.That(message, Does.Not.Contain("pa55word"));
    }

    [TestCase("https://matomo.example.org/matomo.php?token_auth=" + Token)]
    [TestCase("https://matomo.example.org/matomo.php#" + Token)]
    public async Task Start_TrackerUrlWithQueryOrFragment_NamesTrackerUrlWithoutToken(string url)
    {
        var message = await FailureAsync(o => o.TrackerUrl = url);

        Assert.That(message, Does.Contain("Matomo:TrackerUrl has a query string or fragment"));
        Assert.That(message, Does.Not.Contain(Token));
    }

    [TestCase("https://matomo.example.org", "https://matomo.example.org/matomo.php")]
    [TestCase("https://matomo.example.org/", "https://matomo.example.org/matomo.php")]
    [TestCase("https://example.org/analytics/", "https://example.org/analytics/matomo.php")]
    [TestCase("https://example.org/analytics", "https://example.org/analytics/matomo.php")]
    [TestCase("https://example.org/matomo.php", "https://example.org/matomo.php")]
    [TestCase("https://example.org/x/piwik.php", "https://example.org/x/piwik.php")]
    [TestCase("http://127.0.0.1:8080/MATOMO.PHP", "http://127.0.0.1:8080/MATOMO.PHP")]
    public void ResolveEndpoint_BaseOrFullUrl_EndsInTrackerScript(string url, string expected)
    {
        var endpoint = MatomoOptionsValidator.ResolveEndpoint(url, out var error);

        Assert.That(error, Is.Null);
        Assert.That(endpoint!.AbsoluteUri, Is.EqualTo(expected));
    }

    [Test]
    public async Task Start_TokenOverHttpToRemoteHost_RefusedWithoutToken()
    {
        var message = await FailureAsync(o =>
        {
            o.TrackerUrl = "http://matomo.example.org/matomo.php";
            o.TokenAuth = Token;
        });

        Assert.That(message, Does.Contain("Matomo:TokenAuth would be sent in clear text").And.Contain("Matomo:AllowTokenOverHttp"));
        Assert.That(message, Does.Not.Contain(Token));
    }

    [TestCase("http://127.0.0.1:9/matomo.php")]
    [TestCase("http://localhost:9/matomo.php")]
    [TestCase("http://[::1]:9/matomo.php")]
    public async Task Start_TokenOverHttpToLoopback_Allowed(string url)
    {
        var ex = await StartAsync(o =>
        {
            o.TrackerUrl = url;
            o.TokenAuth = Token;
        });

        Assert.That(ex, Is.Null);
    }

    [Test]
    public async Task Start_TokenOverHttpAllowedExplicitly_Starts()
    {
        var ex = await StartAsync(o =>
        {
            o.TrackerUrl = "http://matomo.example.org/matomo.php";
            o.TokenAuth = Token;
            o.AllowTokenOverHttp = true;
        });

        Assert.That(ex, Is.Null);
    }

    [TestCase(" " + Token)]
    [TestCase(Token + "\n")]
    public async Task Start_TokenWithSpaces_NamesTokenAuthWithoutToken(string token)
    {
        var message = await FailureAsync(o => o.TokenAuth = token);

        Assert.That(message, Does.Contain("Matomo:TokenAuth has leading or trailing spaces"));
        Assert.That(message, Does.Not.Contain(Token));
    }

    [Test]
    public async Task Start_BadBaseUrl_NamesBaseUrl()
    {
        var message = await FailureAsync(o => o.BaseUrl = "api.example.org");

        Assert.That(message, Does.Contain("Matomo:BaseUrl"));
    }

    [Test]
    public async Task Start_BadRegex_NamesKeyAndIndex()
    {
        var message = await FailureAsync(o =>
        {
            o.ExcludedPatterns.AddRange(["^ok$", "(unclosed"]);
            o.IgnoredUserAgentPatterns.Add("[z-a]");
        });

        Assert.That(message, Does.Contain("Matomo:ExcludedPatterns:1 is not a valid regular expression"));
        Assert.That(message, Does.Contain("Matomo:IgnoredUserAgentPatterns:0 is not a valid regular expression"));
        Assert.That(message, Does.Not.Contain("ExcludedPatterns:0"));
    }

    [Test]
    public async Task Start_EmptyExcludedAction_NamesKeyAndIndex()
    {
        var message = await FailureAsync(o => o.ExcludedActions.Add(" "));

        Assert.That(message, Does.Contain("Matomo:ExcludedActions:0 is empty"));
    }

    [TestCase("cip", "1.2.3.4")]
    [TestCase("token_auth", "x")]
    [TestCase("idsite", "2")]
    [TestCase("cvar", "{}")]
    [TestCase("ca", "1")]
    [TestCase("cid", "nothex")]
    [TestCase("pf_srv", "1.5")]
    public async Task Start_ActionDetailsWithParameterMatomoRefuses_NamesActionAndParameter(string parameter, string value)
    {
        var message = await FailureAsync(o => o.ActionDetails["greet.Greeter/SayHello"] = new() { [parameter] = value });

        Assert.That(message, Does.Contain($"Matomo:ActionDetails:greet.Greeter/SayHello:{parameter}:"));
    }

    [Test]
    public async Task Start_ActionDetailsActionNameAndEvent_Starts()
    {
        var ex = await StartAsync(o => o.ActionDetails["a/b"] = new() { ["action_name"] = "Renamed", ["e_c"] = "c", ["dimension4"] = "x" });

        Assert.That(ex, Is.Null);
    }

    [Test]
    public async Task Start_CustomDimensionsWithoutIndexes_NamesRecordingAndDimensions()
    {
        var message = await FailureAsync(o => o.Recording = MatomoRecording.CustomDimensions);

        Assert.That(message, Does.Contain("Matomo:Recording includes CustomDimensions but no Matomo:Dimensions index is set"));
    }

    [Test]
    public async Task Start_DuplicateDimensionIndexes_NamesBothKeys()
    {
        var message = await FailureAsync(o =>
        {
            o.Recording = MatomoRecording.Both;
            o.Dimensions.Outcome = 2;
            o.Dimensions.CallKind = 2;
        });

        Assert.That(message, Does.Contain("Matomo:Dimensions:CallKind and Matomo:Dimensions:Outcome both use dimension 2"));
    }

    [Test]
    public async Task Start_DimensionIndexZero_NamesKey()
    {
        var message = await FailureAsync(o =>
        {
            o.Recording = MatomoRecording.CustomDimensions;
            o.Dimensions.Transport = 0;
        });

        Assert.That(message, Does.Contain("Matomo:Dimensions:Transport is 0"));
    }

    [Test]
    public async Task Start_HeaderIdentityWithoutHeader_NamesVisitorIdHeader()
    {
        var message = await FailureAsync(o => o.VisitorIdentity = MatomoVisitorIdentity.Header);

        Assert.That(message, Does.Contain("Matomo:VisitorIdentity is Header but Matomo:VisitorIdHeader is not set"));
    }

    [TestCase("FlushInterval", "Matomo:Sending:FlushInterval must be longer than zero")]
    [TestCase("HttpTimeout", "Matomo:Sending:HttpTimeout must be longer than zero")]
    [TestCase("RetryBaseDelay", "Matomo:Sending:RetryBaseDelay must be longer than zero")]
    [TestCase("RetryMaxDelay", "Matomo:Sending:RetryMaxDelay is shorter than Matomo:Sending:RetryBaseDelay")]
    [TestCase("ShutdownTimeout", "Matomo:Sending:ShutdownTimeout is negative")]
    public async Task Start_BadTiming_NamesKey(string key, string expected)
    {
        var message = await FailureAsync(o =>
        {
            var s = o.Sending;
            switch (key)
            {
                case "FlushInterval": s.FlushInterval = TimeSpan.Zero; break;
                case "HttpTimeout": s.HttpTimeout = TimeSpan.FromSeconds(-1); break;
                case "RetryBaseDelay": s.RetryBaseDelay = TimeSpan.Zero; break;
                case "RetryMaxDelay": s.RetryMaxDelay = TimeSpan.FromMilliseconds(500); break;
                case "ShutdownTimeout": s.ShutdownTimeout = TimeSpan.FromSeconds(-1); break;
            }
        });

        Assert.That(message, Does.Contain(expected));
    }

    [TestCase("SiteId", 0, "Matomo:SiteId")]
    [TestCase("SiteId", -3, "Matomo:SiteId")]
    [TestCase("CustomVariableSlots", 0, "Matomo:CustomVariableSlots")]
    [TestCase("CustomVariableSlots", 51, "Matomo:CustomVariableSlots")]
    [TestCase("IpMaskBytes", 5, "Matomo:IpMaskBytes")]
    [TestCase("IpMaskBytes", -1, "Matomo:IpMaskBytes")]
    [TestCase("BatchSize", 0, "Matomo:Sending:BatchSize")]
    [TestCase("BatchSize", 1001, "Matomo:Sending:BatchSize")]
    [TestCase("QueueCapacity", 0, "Matomo:Sending:QueueCapacity")]
    public async Task Start_OutOfRange_NamesKey(string key, int value, string expected)
    {
        var message = await FailureAsync(o =>
        {
            switch (key)
            {
                case "SiteId": o.SiteId = value; break;
                case "CustomVariableSlots": o.CustomVariableSlots = value; break;
                case "IpMaskBytes": o.IpMaskBytes = value; break;
                case "BatchSize": o.Sending.BatchSize = value; break;
                case "QueueCapacity": o.Sending.QueueCapacity = value; break;
            }
        });

        Assert.That(message, Does.Contain(expected));
    }

    [Test]
    public async Task Start_SeveralErrors_AllReported()
    {
        var ex = await StartAsync(o =>
        {
            o.SiteId = 0;
            o.TrackerUrl = null;
            o.VisitorIdentity = MatomoVisitorIdentity.Header;
        });

        var failures = ((OptionsValidationException)ex!).Failures.ToList();
        Assert.That(failures, Has.Some.Contains("Matomo:SiteId"));
        Assert.That(failures, Has.Some.Contains("Matomo:TrackerUrl"));
        Assert.That(failures, Has.Some.Contains("Matomo:VisitorIdHeader"));
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>("Matomo:" + v.Key, v.Value))).Build().GetSection("Matomo");

    [Test]
    public async Task Start_FromConfiguration_BindsAndStarts()
    {
        var configuration = Configuration(("TrackerUrl", "https://matomo.example.org/"), ("SiteId", "3"), ("Sending:BatchSize", "50"),
            ("Sending:FlushInterval", "00:00:02"), ("ExcludedActions:0", "a/b"), ("Dimensions:Outcome", "1"), ("Recording", "Both"),
            ("ActionDetails:a/c:action_name", "C"));
        MatomoOptions? bound = null;

        var ex = await StartHostAsync(s =>
        {
            s.AddMatomoTracking(configuration);
            s.AddSingleton<IHostedService>(sp => new Capture(() => bound = sp.GetRequiredService<IOptions<MatomoOptions>>().Value));
        });

        Assert.That(ex, Is.Null);
        Assert.That(bound!.SiteId, Is.EqualTo(3));
        Assert.That(bound.Sending.BatchSize, Is.EqualTo(50));
        Assert.That(bound.Sending.FlushInterval, Is.EqualTo(TimeSpan.FromSeconds(2)));
        Assert.That(bound.ExcludedActions, Is.EqualTo(new[] { "a/b" }));
        Assert.That(bound.Recording, Is.EqualTo(MatomoRecording.Both));
        Assert.That(bound.ActionDetails["a/c"]["action_name"], Is.EqualTo("C"));
    }

    [Test]
    public async Task Start_UnknownConfigurationKey_FailsNamingIt()
    {
        var configuration = Configuration(("TrackerUrl", "https://matomo.example.org/"), ("SiteId", "1"), ("TrackrUrl", "typo"));

        var ex = await StartHostAsync(s => s.AddMatomoTracking(configuration));

        Assert.That(ex, Is.Not.Null, "an unknown key must fail the start");
        Assert.That(ex!.Message, Does.Contain("TrackrUrl"));
    }

    [Test]
    public async Task Start_UnknownNestedConfigurationKey_FailsNamingIt()
    {
        var configuration = Configuration(("TrackerUrl", "https://matomo.example.org/"), ("SiteId", "1"), ("Sending:BatchSzie", "5"));

        var ex = await StartHostAsync(s => s.AddMatomoTracking(configuration));

        Assert.That(ex, Is.Not.Null, "an unknown key must fail the start");
        Assert.That(ex!.Message, Does.Contain("BatchSzie"));
    }

    [Test]
    public void AddMatomoTracking_Twice_RegistersOneSender()
    {
        var services = new ServiceCollection();

        services.AddMatomoTracking(Valid);
        services.AddMatomoTracking(o => o.SiteId = 2);

        Assert.That(services.Count(d => d.ServiceType == typeof(IHostedService)), Is.EqualTo(1));
        Assert.That(services.Count(d => d.ServiceType == typeof(MatomoTracker)), Is.EqualTo(1));
    }

    private sealed class Capture(Action action) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            action();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
