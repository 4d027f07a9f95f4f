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
    [TestCase("pf.srv", "-2")] // PHP's parse_str reads it as pf_srv: a negative pf_srv, refused (seen: pf.srv=77 stored as pf_srv)
    [TestCase("token.auth", "x")] // read as token_auth
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

        Assert.That(message, Does.Contain("Matomo:Recording includes CustomDimensions but no Matomo:Dimensions ID is set"));
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
    [TestCase("MaxBatchSize", 0, "Matomo:Sending:MaxBatchSize")]
    [TestCase("MaxBatchSize", 1001, "Matomo:Sending:MaxBatchSize")]
    [TestCase("MaxBatchSize", 50, "Matomo:Sending:MaxBatchSize (50) is below Matomo:Sending:BatchSize (100)")]
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
                case "MaxBatchSize": o.Sending.MaxBatchSize = value; break;
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

    private static IConfiguration Configuration(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>("Matomo:" + v.Key, v.Value))).Build().GetSection("Matomo");

    [Test]
    public async Task Start_FromConfiguration_BindsAndStarts()
    {
        var configuration = Configuration(("TrackerUrl", "https://matomo.example.org/"), ("SiteId", "3"), ("Sending:BatchSize", "50"), ("Sending:MaxBatchSize", "200"),
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
        Assert.That(bound.Sending.MaxBatchSize, Is.EqualTo(200));
        Assert.That(bound.Sending.FlushInterval, Is.EqualTo(TimeSpan.FromSeconds(2)));
        Assert.That(bound.ExcludedActions, Is.EqualTo(new[] { "a/b" }));
        Assert.That(bound.Recording, Is.EqualTo(MatomoRecording.Both));
        Assert.That(bound.ActionDetails["a/c"]["action_name"], Is.EqualTo("C"));
    }

    [Test]
    public async Task Start_PrivacyAndUserIdFromConfiguration_Bound()
    {
        var configuration = Configuration(("TrackerUrl", "https://matomo.example.org/"), ("SiteId", "3"), ("Privacy:HonorOptOut", "false"),
            ("Privacy:KeepReferrerQuery", "true"), ("UserId:Mode", "Plain"), ("UserId:Claim", "sub"));
        MatomoOptions? bound = null;

        var ex = await StartHostAsync(s =>
        {
            s.AddMatomoTracking(configuration);
            s.AddSingleton<IHostedService>(sp => new Capture(() => bound = sp.GetRequiredService<IOptions<MatomoOptions>>().Value));
        });

        Assert.That(ex, Is.Null);
        Assert.That(bound!.Privacy.HonorOptOut, Is.False);
        Assert.That(bound.Privacy.KeepReferrerQuery, Is.True);
        Assert.That(bound.UserId.Mode, Is.EqualTo(MatomoUserIdMode.Plain));
        Assert.That(bound.UserId.Claim, Is.EqualTo("sub"));
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

    private static readonly (string Key, string Value)[] Minimal = [("TrackerUrl", "https://matomo.example.org/"), ("SiteId", "1")];

    /// <summary>Starts a host configured from the Matomo section with <paramref name="values"/> on top of a valid minimum.</summary>
    private static async Task<IReadOnlyList<string>> ConfigurationFailuresAsync(params (string Key, string Value)[] values)
    {
        var configuration = Configuration([.. Minimal.Where(m => !values.Any(v => v.Key == m.Key)), .. values]);

        var ex = await StartHostAsync(s => s.AddMatomoTracking(configuration));

        Assert.That(ex, Is.InstanceOf<OptionsValidationException>(), "the host started although the configuration is wrong, or failed otherwise: " + ex);
        return [.. ((OptionsValidationException)ex!).Failures];
    }

    [TestCase("TrakerUrl", "Matomo:TrakerUrl is not a setting; did you mean Matomo:TrackerUrl?")]
    [TestCase("siteid2", "Matomo:siteid2 is not a setting; did you mean Matomo:SiteId?")]
    [TestCase("Sending:BatchSzie", "Matomo:Sending:BatchSzie is not a setting; did you mean Matomo:Sending:BatchSize?")]
    [TestCase("Sending:FlushIntervall", "Matomo:Sending:FlushIntervall is not a setting; did you mean Matomo:Sending:FlushInterval?")]
    [TestCase("Check:FailStartUp2", "Matomo:Check:FailStartUp2 is not a setting; did you mean Matomo:Check:FailStartup?")]
    [TestCase("Privacy:HonorOptout2", "Matomo:Privacy:HonorOptout2 is not a setting; did you mean Matomo:Privacy:HonorOptOut?")]
    [TestCase("UserId:Claims", "Matomo:UserId:Claims is not a setting; did you mean Matomo:UserId:Claim?")]
    [TestCase("Dimensions:Outcom", "Matomo:Dimensions:Outcom is not a setting; did you mean Matomo:Dimensions:Outcome?")]
    [TestCase("BatchSize", "Matomo:BatchSize is not a setting; did you mean Matomo:Sending:BatchSize?")]
    [TestCase("Sending:SiteId", "Matomo:Sending:SiteId is not a setting; did you mean Matomo:SiteId?")]
    [TestCase("Sendng:BatchSize", "Matomo:Sendng is not a setting; did you mean Matomo:Sending?")]
    public async Task Start_UnknownKey_NamesNearestSetting(string key, string expected)
    {
        var failures = await ConfigurationFailuresAsync((key, "5"));

        Assert.That(failures, Has.Member(expected));
        Assert.That(failures, Has.None.Contains("ErrorOnUnknownConfiguration"));
    }

    [Test]
    public async Task Start_UnknownKeyNothingClose_ListsSettingsOfItsSection()
    {
        var failures = await ConfigurationFailuresAsync(("Sending:Colour", "blue"));

        Assert.That(failures, Has.Count.EqualTo(1));
        Assert.That(failures[0], Does.StartWith("Matomo:Sending:Colour is not a setting; remove it. The settings of Matomo:Sending are BatchSize, MaxBatchSize, MaxConcurrentRequests, FlushInterval, "));
        Assert.That(failures[0], Does.Contain("ShutdownTimeout").And.Not.Contain("TrackerUrl"));
    }

    [Test]
    public async Task Start_KeysInOtherCase_Bind()
    {
        var configuration = Configuration(("trackerurl", "https://matomo.example.org/"), ("SITEID", "4"), ("sending:batchsize", "7"));
        MatomoOptions? bound = null;

        var ex = await StartHostAsync(s =>
        {
            s.AddMatomoTracking(configuration);
            s.AddSingleton<IHostedService>(sp => new Capture(() => bound = sp.GetRequiredService<IOptions<MatomoOptions>>().Value));
        });

        Assert.That(ex, Is.Null);
        Assert.That(bound!.SiteId, Is.EqualTo(4));
        Assert.That(bound.Sending.BatchSize, Is.EqualTo(7));
    }

    [TestCase("VisitorIdentity", "User", "Matomo:VisitorIdentity is 'User', which is not a valid value; set one of None, Hashed, UserId, Header (default Hashed).")]
    [TestCase("Recording", "Variables", "Matomo:Recording is 'Variables', which is not a valid value; set one of None, CustomVariables, CustomDimensions, Both (several separated by commas) (default CustomVariables).")]
    [TestCase("Recording", "8", "Matomo:Recording is '8', which is not a valid value; set one of None, CustomVariables, CustomDimensions, Both (several separated by commas) (default CustomVariables).")]
    [TestCase("Sending:FullQueuePolicy", "DropAll", "Matomo:Sending:FullQueuePolicy is 'DropAll', which is not a valid value; set one of DropNewest, DropOldest (default DropNewest).")]
    [TestCase("AllowedCallKinds:0", "Unry", "Matomo:AllowedCallKinds:0 is 'Unry', which is not a valid value; set one of Unary, ClientStreaming, ServerStreaming, DuplexStreaming, HubInvocation, HubStream, HubConnect, HubDisconnect, Http.")]
    [TestCase("Sending:FlushInterval", "500ms", "Matomo:Sending:FlushInterval is '500ms', which is not a duration; write it as hours:minutes:seconds, e.g. 00:00:05 for 5 seconds or 00:00:00.500 for 500 milliseconds (default 00:00:01).")]
    [TestCase("Sending:HttpTimeout", "5", "Matomo:Sending:HttpTimeout is '5', which would be read as 5 days; write it as hours:minutes:seconds, e.g. 00:00:05 for 5 seconds or 00:00:00.500 for 500 milliseconds (default 00:00:30).")]
    [TestCase("Check:Timeout", "ten seconds", "Matomo:Check:Timeout is 'ten seconds', which is not a duration; write it as hours:minutes:seconds, e.g. 00:00:05 for 5 seconds or 00:00:00.500 for 500 milliseconds (default 00:00:10).")]
    [TestCase("SiteId", "abc", "Matomo:SiteId is 'abc', which is not a whole number from 1 to 2147483647; set one in digits, e.g. 1.")]
    [TestCase("Sending:BatchSize", "99999999999", "Matomo:Sending:BatchSize is '99999999999', which is not a whole number from 1 to 1000; set one in digits, e.g. 100.")]
    [TestCase("CustomVariableSlots", "5.5", "Matomo:CustomVariableSlots is '5.5', which is not a whole number from 1 to 50; set one in digits, e.g. 5.")]
    [TestCase("Dimensions:Outcome", "first", "Matomo:Dimensions:Outcome is 'first', which is not a whole number; set one in digits, or leave it empty.")]
    [TestCase("LogOnly", "yes", "Matomo:LogOnly is 'yes', which is not a boolean; set true or false (default false).")]
    [TestCase("Check:Enabled", "on", "Matomo:Check:Enabled is 'on', which is not a boolean; set true or false (default true).")]
    [TestCase("ExcludedActions", "greet.Greeter/SayHello", "Matomo:ExcludedActions is a list, not a single value; set its items as Matomo:ExcludedActions:0, Matomo:ExcludedActions:1, ... (environment variables Matomo__ExcludedActions__0, Matomo__ExcludedActions__1, ...).")]
    [TestCase("Sending", "fast", "Matomo:Sending is a section, not a value; set its keys, e.g. Matomo:Sending:BatchSize.")]
    [TestCase("UserId:Mode", "Hashed", "Matomo:UserId:Mode is 'Hashed', which is not a valid value; set one of Pseudonym, Plain (default Pseudonym).")]
    [TestCase("Privacy:HonorOptOut", "no", "Matomo:Privacy:HonorOptOut is 'no', which is not a boolean; set true or false (default true).")]
    public async Task Start_ValueThatDoesNotConvert_NamesKeyAndValidValues(string key, string value, string expected)
    {
        var failures = await ConfigurationFailuresAsync((key, value));

        // Only that: the default the key kept is not reported as a second mistake.
        Assert.That(failures, Is.EqualTo(new[] { expected }));
    }

    [TestCase("SiteId", "")]
    [TestCase("SiteId", " 7 ")]
    [TestCase("LogOnly", "")]
    [TestCase("LogOnly", "True")]
    [TestCase("Recording", "")]
    [TestCase("Recording", "customvariables, CustomDimensions")]
    [TestCase("Recording", "3")]
    [TestCase("Sending:FlushInterval", "")]
    [TestCase("Sending:FlushInterval", "0")]
    [TestCase("Sending:FlushInterval", "1.00:00:00")]
    [TestCase("Sending:BatchSize", "-0")]
    [TestCase("Sending:BatchSize", "1e3")]
    [TestCase("Sending:BatchSize", "0x10")]
    [TestCase("Dimensions:Outcome", "")]
    [TestCase("AllowedCallKinds:0", "")]
    [TestCase("ExcludedActions", "")]
    public async Task Start_OddValue_EitherBindsOrNamesTheKey(string key, string value)
    {
        // The checker must refuse whatever the configuration binder (as this library used it) refuses with its own message.
        var configuration = Configuration([.. Minimal.Where(m => m.Key != key), (key, value)]);

        var binderRefuses = false;
        try
        {
            configuration.Bind(new MatomoOptions(), o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException)
        {
            binderRefuses = true;
        }

        var ex = await StartHostAsync(s => s.AddMatomoTracking(configuration));

        TestContext.Out.WriteLine($"binder refuses: {binderRefuses}; " + (ex?.Message ?? "started"));
        Assert.That(ex, Is.Null.Or.InstanceOf<OptionsValidationException>());
        if (binderRefuses)
        {
            Assert.That(ex, Is.InstanceOf<OptionsValidationException>());
        }

        if (ex is OptionsValidationException invalid)
        {
            Assert.That(invalid.Failures, Has.Some.StartsWith("Matomo:" + key + " "));
            Assert.That(invalid.Message, Does.Not.Contain("Failed to convert"));
        }
    }

    [Test]
    public async Task Start_SeveralConfigurationMistakes_AllReportedWithTheOtherChecks()
    {
        var failures = await ConfigurationFailuresAsync(("TrakerUrl", "https://matomo.example.org/"), ("TrackerUrl", ""), ("SiteId", "one"),
            ("Sending:BatchSzie", "5"), ("VisitorIdentity", "Header"));

        Assert.That(failures, Is.EqualTo(new[]
        {
            "Matomo:Sending:BatchSzie is not a setting; did you mean Matomo:Sending:BatchSize?",
            "Matomo:SiteId is 'one', which is not a whole number from 1 to 2147483647; set one in digits, e.g. 1.",
            "Matomo:TrakerUrl is not a setting; did you mean Matomo:TrackerUrl?",
            "Matomo:TrackerUrl is not set. Set it to your Matomo's tracking endpoint, e.g. https://matomo.example.org/matomo.php, or set Matomo:LogOnly to true to write hits to the log instead.",
            "Matomo:VisitorIdentity is Header but Matomo:VisitorIdHeader is not set; set it to the request header that carries the caller's key, e.g. x-client-id.",
        }));
    }

    [Test]
    public async Task Start_WholeConfigurationInsteadOfSection_SaysToPassTheSection()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Matomo:TrackerUrl"] = "https://matomo.example.org/",
            ["Matomo:SiteId"] = "1",
        }).Build();

        var ex = await StartHostAsync(s => s.AddMatomoTracking(configuration));

        Assert.That(ex, Is.InstanceOf<OptionsValidationException>());
        Assert.That(((OptionsValidationException)ex!).Failures, Has.Member(
            "Matomo is not a setting: the whole configuration was given instead of its Matomo section; call AddMatomoTracking(configuration.GetSection(\"Matomo\"))."));
    }

    [Test]
    public async Task Run_ApplicationWithTypoInConfiguration_FailsWithTheMessage()
    {
        // As an app does it: the host's own configuration (here from memory, as from appsettings.json or environment variables).
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Matomo:TrakerUrl"] = "https://matomo.example.org/",
            ["Matomo:SiteId"] = "1",
            ["Matomo:LogOnly"] = "true",
        });
        builder.Services.AddMatomoTracking(builder.Configuration.GetSection(MatomoOptions.SectionName));
        using var host = builder.Build();

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => host.RunAsync().WaitAsync(Timeout));

        Assert.That(ex!.Message, Is.EqualTo("Matomo:TrakerUrl is not a setting; did you mean Matomo:TrackerUrl?"));
    }

    [Test]
    public async Task Start_ActionOverloadOutOfRange_ExactMessage()
    {
        var ex = await StartAsync(o => o.Sending.BatchSize = 0);

        Assert.That(((OptionsValidationException)ex!).Failures, Is.EqualTo(new[]
        {
            "Matomo:Sending:BatchSize must be between 1 and 1000 (Matomo's own tools send 50 to 200 hits per bulk request).",
        }));
    }

    [Test]
    public void Defaults_SendGenerationTime_Off()
    {
        var options = new MatomoOptions();

        Assert.That(options.SendGenerationTime, Is.False, "gt_ms is read only by Matomo 3");
    }

    [Test]
    public void AddMatomoTracking_Twice_RegistersOneSender()
    {
        var services = new ServiceCollection();

        services.AddMatomoTracking(Valid);
        services.AddMatomoTracking(o => o.SiteId = 2);

        // One sender, one start-up check of the Matomo side and one capacity monitor, each once.
        Assert.That(services.Where(d => d.ServiceType == typeof(IHostedService)).Select(d => d.ImplementationFactory?.Method.ReturnType.Name),
            Is.EquivalentTo(new[] { "MatomoSender", "MatomoCheckService", "CapacityMonitor" }));
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
