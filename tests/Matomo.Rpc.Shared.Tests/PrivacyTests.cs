using System.Diagnostics.Metrics;
using System.Net;
using System.Security.Claims;
using Matomo.Rpc.Internal;
using Microsoft.AspNetCore.Http;
using NUnit.Framework;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>Callers' opt-out, user id pseudonyms and claims, referrer queries and IP masking, in the core.</summary>
public class PrivacyTests
{
    private const string Name = "alice@example.org";

    [TestCase("Sec-GPC", "1")]
    [TestCase("DNT", "1")]
    [TestCase("sec-gpc", " 1 ")]
    [TestCase("dnt", "1")]
    public void ReadCaller_OptOutHeader_OptedOut(string header, string value)
    {
        using var harness = new TrackerHarness();
        var context = new DefaultHttpContext();
        context.Request.Headers[header] = value;

        Assert.That(harness.Tracker.ReadCaller(context).OptedOut, Is.True);
    }

    [TestCase("DNT", "0")]
    [TestCase("Sec-GPC", "0")]
    [TestCase("Sec-GPC", "")]
    [TestCase("DNT", "yes")]
    [TestCase("X-DNT", "1")]
    public void ReadCaller_NoOptOut_NotOptedOut(string header, string value)
    {
        using var harness = new TrackerHarness();
        var context = new DefaultHttpContext();
        context.Request.Headers[header] = value;

        Assert.That(harness.Tracker.ReadCaller(context).OptedOut, Is.False);
    }

    [Test]
    public void ReadCaller_HonorOptOutOff_NotOptedOut()
    {
        using var harness = new TrackerHarness(o => o.Privacy.HonorOptOut = false);
        var context = new DefaultHttpContext();
        context.Request.Headers["Sec-GPC"] = "1";
        context.Request.Headers["DNT"] = "1";

        Assert.That(harness.Tracker.ReadCaller(context).OptedOut, Is.False);
        Assert.That(harness.Tracker.StartCall(context, "greet.Greeter/SayHello", MatomoCallKind.Unary, urlPath: null), Is.Not.Null);
    }

    [Test]
    public void StartCall_RequestWithGpc_NullCountedInStatisticsAndMeter()
    {
        using var harness = new TrackerHarness();
        using var meter = OptedOutMeter(harness);
        var context = new DefaultHttpContext();
        context.Request.Headers["Sec-GPC"] = "1";

        var scope = harness.Tracker.StartCall(context, "/greet.Greeter/SayHello", MatomoCallKind.Unary, urlPath: null);

        Assert.That(scope, Is.Null);
        Assert.That(harness.Tracker.Statistics.OptedOut, Is.EqualTo(1));
        Assert.That(harness.Tracker.Statistics.Queued, Is.Zero);
        Assert.That(meter.Total, Is.EqualTo(1));
        Assert.That(harness.Queue.Count, Is.Zero);
    }

    [Test]
    public void StartCall_RequestWithoutOptOut_TrackedWithCaller()
    {
        using var harness = new TrackerHarness();
        var context = new DefaultHttpContext();
        context.Request.Headers.UserAgent = "grpc-dotnet/2.80";

        using var scope = harness.Tracker.StartCall(context, "greet.Greeter/SayHello", MatomoCallKind.Unary, urlPath: null);
        scope!.Complete();

        Assert.That(harness.TakeHit().Caller.UserAgent, Is.EqualTo("grpc-dotnet/2.80"));
        Assert.That(harness.Tracker.Statistics.OptedOut, Is.Zero);
    }

    [Test]
    public void StartCall_ExcludedActionWithDnt_NotCountedAsOptedOut()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.ExcludedActions.Add("greet.Greeter/Ignored");
            o.IgnoredCallKinds.Add(MatomoCallKind.HubConnect);
        });
        var context = new DefaultHttpContext();
        context.Request.Headers["DNT"] = "1";
        var caller = harness.Tracker.ReadCaller(context);

        Assert.That(harness.Tracker.StartCall(context, "greet.Greeter/Ignored", MatomoCallKind.Unary, urlPath: null), Is.Null);
        Assert.That(harness.Tracker.StartCall(caller, "ChatHub/connect", MatomoCallKind.HubConnect, urlPath: null), Is.Null);
        Assert.That(harness.Tracker.Statistics.OptedOut, Is.Zero);
    }

    [Test]
    public void StartCall_OptedOutCaller_NullCounted()
    {
        using var harness = new TrackerHarness();
        var caller = TrackerHarness.DefaultCaller with { OptedOut = true };

        Assert.That(harness.Tracker.StartCall(caller, "ChatHub/Send", MatomoCallKind.HubInvocation, "/hubs/chat/Send"), Is.Null);
        Assert.That(harness.Tracker.StartCall(caller, "ChatHub/Send", MatomoCallKind.HubInvocation, "/hubs/chat/Send"), Is.Null);
        Assert.That(harness.Tracker.Statistics.OptedOut, Is.EqualTo(2));
    }

    [Test]
    public void SetCaller_OptedOutCaller_EndsWithoutHitCountedOnce()
    {
        using var harness = new TrackerHarness();
        var scope = harness.Tracker.StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary)!;

        scope.SetCaller(TrackerHarness.DefaultCaller with { OptedOut = true });
        scope.OptOut();

        Assert.That(scope.Complete(), Is.False);
        Assert.That(scope.IsFinished, Is.True);
        Assert.That(harness.Queue.Count, Is.Zero);
        Assert.That(harness.Tracker.Statistics.OptedOut, Is.EqualTo(1));
    }

    [Test]
    public void OptOut_CompletedCall_NotCounted()
    {
        using var harness = new TrackerHarness();
        var scope = harness.Tracker.StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary)!;
        scope.Complete();

        scope.OptOut();

        Assert.That(harness.Tracker.Statistics.OptedOut, Is.Zero);
        Assert.That(harness.Tracker.Statistics.Queued, Is.EqualTo(1));
    }

    [Test]
    public void ReadCaller_NameIdentifierAndName_NameIdentifierByDefault()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);

        var caller = harness.Tracker.ReadCaller(SignedIn(("u-42", Name)));

        Assert.That(caller.UserId, Is.EqualTo("u-42"));
    }

    [Test]
    public void ReadCaller_OnlyName_NameByDefault()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);

        Assert.That(harness.Tracker.ReadCaller(SignedIn((null, Name))).UserId, Is.EqualTo(Name));
    }

    [Test]
    public void ReadCaller_ClaimConfigured_ConfiguredClaimUsed()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.UserId;
            o.UserId.Claim = ClaimTypes.Name;
        });

        Assert.That(harness.Tracker.ReadCaller(SignedIn(("u-42", Name))).UserId, Is.EqualTo(Name));
        Assert.That(harness.Tracker.ReadCaller(SignedIn(("u-42", Name)), userIdentifier: "from-signalr").UserId, Is.EqualTo(Name));
        Assert.That(harness.Tracker.ReadCaller(SignedIn(("u-42", null))).UserId, Is.Null, "no fallback to another claim");
    }

    [Test]
    public void ReadCaller_TransportUserIdentifier_PreferredWithoutConfiguredClaim()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);

        Assert.That(harness.Tracker.ReadCaller(SignedIn(("u-42", Name)), userIdentifier: "from-signalr").UserId, Is.EqualTo("from-signalr"));
        Assert.That(harness.Tracker.ReadCaller(SignedIn(("u-42", Name)), userIdentifier: null).UserId, Is.EqualTo("u-42"));
    }

    [Test]
    public void ReadCaller_AnonymousWithClaims_NoUserId()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);
        var context = new DefaultHttpContext { User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, "u-42")])) };

        Assert.That(harness.Tracker.ReadCaller(context).UserId, Is.Null);
    }

    [Test]
    public void Encode_PseudonymDefault_UidIsKeyedHashNeverTheName()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);

        var query = harness.Encode(caller: TrackerHarness.DefaultCaller with { UserId = Name });

        var uid = QueryText.Parse(query)["uid"];
        Assert.That(uid, Does.Match("^[0-9a-f]{32}$"));
        Assert.That(query, Does.Not.Contain("alice"));
        Assert.That(uid, Is.EqualTo(new VisitorIdGenerator("salt").Pseudonym(Name)));
    }

    [Test]
    public void Pseudonym_ReadmeFormula_SameValue()
    {
        // README (Privacy): HMAC-SHA256 keyed with HMAC-SHA256(salt, "uid") over the user id, first 16 bytes as hex.
        Assert.That(new VisitorIdGenerator("salt").Pseudonym(Name), Is.EqualTo("68f2bdb0d2b03506ae4f2d6f9af4d6bb"));
    }

    [Test]
    public void Encode_PseudonymSameSalt_SameUidAcrossEncodersAndDays()
    {
        using var first = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);
        using var second = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);
        var caller = TrackerHarness.DefaultCaller with { UserId = Name };

        var today = QueryText.Parse(first.Encode(caller: caller))["uid"];
        second.Time.Advance(TimeSpan.FromDays(40));
        var later = QueryText.Parse(second.Encode(caller: caller))["uid"];

        Assert.That(later, Is.EqualTo(today));
    }

    [Test]
    public void Encode_PseudonymOtherSaltOrUser_OtherUid()
    {
        using var harness = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.UserId);
        using var peppered = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.UserId;
            o.VisitorIdSalt = "pepper";
        });
        var caller = TrackerHarness.DefaultCaller with { UserId = Name };

        var salted = QueryText.Parse(harness.Encode(caller: caller))["uid"];
        var peppery = QueryText.Parse(peppered.Encode(caller: caller))["uid"];
        var bob = QueryText.Parse(harness.Encode(caller: caller with { UserId = "bob@example.org" }))["uid"];

        Assert.That(peppery, Is.Not.EqualTo(salted));
        Assert.That(bob, Is.Not.EqualTo(salted));
    }

    [Test]
    public void Encode_PseudonymPerCallAndConfiguredUid_Pseudonymised()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.TrackCrashes = true;
            o.ActionDetails["greet.Greeter/Configured"] = new() { ["uid"] = "configured-user" };
        });
        var expected = new VisitorIdGenerator("salt").Pseudonym(Name);
        var perCall = harness.Hit(during: call => call.SetVar("uid", Name), outcome: MatomoOutcome.Error, exception: new InvalidOperationException("x"));
        var encoder = harness.Encoder();

        var call = encoder.Encode(perCall);
        var crash = encoder.EncodeCrash(perCall);
        var configured = harness.Encode(action: "greet.Greeter/Configured");

        Assert.That(QueryText.Parse(call)["uid"], Is.EqualTo(expected));
        Assert.That(QueryText.Parse(crash)["uid"], Is.EqualTo(expected));
        Assert.That(QueryText.Parse(configured)["uid"], Is.EqualTo(new VisitorIdGenerator("salt").Pseudonym("configured-user")));
        Assert.That(call + crash, Does.Not.Contain("alice"));
    }

    [Test]
    public void Encode_Plain_NameSentAsIs()
    {
        using var harness = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.UserId;
            o.UserId.Mode = MatomoUserIdMode.Plain;
        });

        var known = QueryText.Parse(harness.Encode(caller: TrackerHarness.DefaultCaller with { UserId = Name }));
        var perCall = QueryText.Parse(harness.Encode(call => call.SetVar("uid", "bob")));

        Assert.That(known["uid"], Is.EqualTo(Name));
        Assert.That(perCall["uid"], Is.EqualTo("bob"));
    }

    [Test]
    public void Encode_HeaderIdentity_HeaderValueNeverSent()
    {
        using var first = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Header;
            o.VisitorIdHeader = "x-client-id";
        });
        using var second = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Header;
            o.VisitorIdHeader = "x-client-id";
        });
        var caller = TrackerHarness.DefaultCaller with { VisitorKey = "client-alice" };

        var one = first.Encode(caller: caller);
        var two = second.Encode(caller: caller);

        Assert.That(QueryText.Parse(one)["cid"], Does.Match("^[0-9a-f]{16}$"));
        Assert.That(QueryText.Parse(two)["cid"], Is.EqualTo(QueryText.Parse(one)["cid"]), "same salt, same id on another replica");
        Assert.That(one, Does.Not.Contain("alice"));
    }

    [TestCase("https://app.example.org/search?q=alice%40example.org&token=x", "https://app.example.org/search")]
    [TestCase("https://app.example.org/page#section", "https://app.example.org/page")]
    [TestCase("https://app.example.org/", "https://app.example.org/")]
    [TestCase("?only=query", null)]
    public void Encode_ReferrerWithQuery_QueryStripped(string referrer, string? expected)
    {
        using var harness = new TrackerHarness();

        var fromCaller = QueryText.Parse(harness.Encode(caller: TrackerHarness.DefaultCaller with { Referrer = referrer }));
        var perCall = QueryText.Parse(harness.Encode(call => call.SetVar("urlref", referrer)));

        Assert.That(fromCaller.GetValueOrDefault("urlref"), Is.EqualTo(expected));
        Assert.That(perCall.GetValueOrDefault("urlref", string.Empty), Is.EqualTo(expected ?? string.Empty));
    }

    [Test]
    public void Encode_KeepReferrerQuery_QueryKept()
    {
        const string Referrer = "https://app.example.org/search?q=orders#top";
        using var harness = new TrackerHarness(o => o.Privacy.KeepReferrerQuery = true);

        var fromCaller = QueryText.Parse(harness.Encode(caller: TrackerHarness.DefaultCaller with { Referrer = Referrer }));
        var perCall = QueryText.Parse(harness.Encode(call => call.SetVar("urlref", Referrer)));

        Assert.That(fromCaller["urlref"], Is.EqualTo(Referrer));
        Assert.That(perCall["urlref"], Is.EqualTo(Referrer));
    }

    [Test]
    public void Encode_IpMask_HashedIdFromMaskedAddress()
    {
        using var masked = new TrackerHarness(o =>
        {
            o.VisitorIdentity = MatomoVisitorIdentity.Hashed;
            o.IpMaskBytes = 2;
            o.TokenAuth = "secret-token";
        });
        using var whole = new TrackerHarness(o => o.VisitorIdentity = MatomoVisitorIdentity.Hashed);
        var first = TrackerHarness.DefaultCaller with { RemoteAddress = IPAddress.Parse("203.0.113.77"), UserAgent = "ua" };
        var second = first with { RemoteAddress = IPAddress.Parse("203.0.200.9") };

        var one = QueryText.Parse(masked.Encode(caller: first));
        var two = QueryText.Parse(masked.Encode(caller: second));

        Assert.That(one["cip"], Is.EqualTo("203.0.0.0"));
        Assert.That(two["cid"], Is.EqualTo(one["cid"]), "the id cannot tell apart what the mask merges");
        Assert.That(QueryText.Parse(whole.Encode(caller: first))["cid"], Is.Not.EqualTo(QueryText.Parse(whole.Encode(caller: second))["cid"]));
    }

    [Test]
    public void Tracker_PseudonymWithoutSalt_WarnsOnce()
    {
        var logger = new CapturingLogger();
        var salted = new CapturingLogger();
        var options = new MatomoOptions { SiteId = 1, LogOnly = true, VisitorIdentity = MatomoVisitorIdentity.UserId };
        using var meters = new TrackerHarness.TestMeterFactory();

        _ = new MatomoTracker(options, TimeProvider.System, new HitQueue(options, meters, TimeProvider.System), new TypedLogger(logger));
        options.VisitorIdSalt = "salt";
        _ = new MatomoTracker(options, TimeProvider.System, new HitQueue(options, meters, TimeProvider.System), new TypedLogger(salted));

        Assert.That(logger.EventNames, Is.EqualTo(new[] { "PseudonymWithoutSalt" }));
        Assert.That(salted.EventNames, Is.Empty);
    }

    private static DefaultHttpContext SignedIn((string? NameIdentifier, string? Name) user)
    {
        var claims = new List<Claim>();
        if (user.NameIdentifier is { } id)
        {
            claims.Add(new Claim(ClaimTypes.NameIdentifier, id));
        }

        if (user.Name is { } name)
        {
            claims.Add(new Claim(ClaimTypes.Name, name));
        }

        return new DefaultHttpContext { User = new ClaimsPrincipal(new ClaimsIdentity(claims, "test")) };
    }

    private static OptedOutListener OptedOutMeter(TrackerHarness harness) => new(harness.Meters);

    private sealed class OptedOutListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _total;

        public OptedOutListener(IMeterFactory scope)
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, scope) && instrument.Name == "matomo.rpc.hits.opted_out")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _total, value));
            _listener.Start();
        }

        public long Total => Interlocked.Read(ref _total);

        public void Dispose() => _listener.Dispose();
    }

    private sealed class TypedLogger(CapturingLogger inner) : Microsoft.Extensions.Logging.ILogger<MatomoTracker>
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
