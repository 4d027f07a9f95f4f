using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc.Tests.Support;
using Matomo.Rpc.TestSupport;

namespace Matomo.Rpc.Grpc.Tests;

public class MatomoServerCallContextExtensionsTests
{
    private static readonly HelloRequest Request = new() { Name = "Ada" };

    private TrackingHarness _harness = null!;

    [SetUp]
    public async Task SetUp() => _harness = await TrackingHarness.StartAsync();

    [TearDown]
    public async Task TearDown() => await _harness.DisposeAsync();

    private Task<HelloReply> RunUnary(Action<ServerCallContext> service, ServerCallContext? context = null) =>
        _harness.Interceptor.UnaryServerHandler(Request, context ?? CallContexts.Create(), (r, c) =>
        {
            service(c);
            return Task.FromResult(new HelloReply());
        }).WaitAsync(TestTimeouts.Default);

    [Test]
    public async Task SetMatomoVar_InTrackedCall_AddsParameterToTheHit()
    {
        await RunUnary(c =>
        {
            c.SetMatomoVar("dimension3", "premium");
            c.SetMatomoVar("e_n", "first");
            c.SetMatomoVar("e_n", "second");
        });

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["dimension3"], Is.EqualTo("premium"));
        Assert.That(hit["e_n"], Is.EqualTo("second"), "a later value replaces the earlier one");
    }

    [Test]
    public async Task SetMatomoVar_ActionName_OverridesTheMethodPath()
    {
        await RunUnary(c => c.SetMatomoVar("action_name", "Greeting/Ada"));

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["action_name"], Is.EqualTo("Greeting/Ada"));
        Assert.That(hit["url"], Is.EqualTo("https://localhost/greet.Greeter/SayHello"));
    }

    [Test]
    public async Task SetMatomoVar_NullValue_RemovesTheParameter()
    {
        await RunUnary(c =>
        {
            c.SetMatomoVar("dimension1", "x");
            c.SetMatomoVar("dimension1", null);
        });

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.Parameters.ContainsKey("dimension1"), Is.False);
    }

    [Test]
    public async Task SetMatomoVar_PerCallValue_WinsOverActionDetails()
    {
        await using var harness = await TrackingHarness.StartAsync(o => o.ActionDetails["greet.Greeter/SayHello"] = new() { ["dimension2"] = "configured" });

        await harness.Interceptor.UnaryServerHandler(Request, CallContexts.Create(), (r, c) =>
        {
            c.SetMatomoVar("dimension2", "per-call");
            return Task.FromResult(new HelloReply());
        }).WaitAsync(TestTimeouts.Default);

        var hit = await harness.SingleHitAsync();
        Assert.That(hit["dimension2"], Is.EqualTo("per-call"));
    }

    [TestCaseSource(typeof(ReservedNames), nameof(ReservedNames.PerCall))]
    public void SetMatomoVar_ReservedNameInTrackedCall_ThrowsArgumentExceptionIntoTheService(string name)
    {
        ArgumentException? thrown = null;

        Assert.That(async () => await RunUnary(c =>
        {
            try
            {
                c.SetMatomoVar(name, "2");
            }
            catch (ArgumentException ex)
            {
                thrown = ex;
            }
        }), Throws.Nothing);

        Assert.That(thrown, Is.Not.Null);
        Assert.That(thrown!.ParamName, Is.EqualTo("name"));
    }

    [TestCase("idsite")]
    [TestCase("token_auth")]
    [TestCase("cip")]
    public void SetMatomoVar_ReservedNameInUntrackedCall_ThrowsArgumentExceptionToo(string name)
    {
        var context = CallContexts.Create();

        Assert.That(() => context.SetMatomoVar(name, "2"), Throws.ArgumentException.With.Property(nameof(ArgumentException.ParamName)).EqualTo("name"));
    }

    [Test]
    public void SetMatomoVar_ReservedNameInExcludedCall_ThrowsArgumentExceptionToo()
    {
        var context = CallContexts.Create("/grpc.health.v1.Health/Check");
        Exception? thrown = null;

        _harness.Interceptor.UnaryServerHandler(Request, context, (r, c) =>
        {
            thrown = Catch(() => c.SetMatomoVar("rec", "0"));
            return Task.FromResult(new HelloReply());
        });

        Assert.That(thrown, Is.InstanceOf<ArgumentException>());
    }

    [Test]
    public void SetMatomoVar_InvalidVisitorIdInUntrackedCall_ThrowsArgumentException()
    {
        var context = CallContexts.Create();

        Assert.That(() => context.SetMatomoVar("cid", "not-16-hex"), Throws.ArgumentException);
    }

    [Test]
    public void SetMatomoVar_ValidNameInUntrackedCall_DoesNothing()
    {
        var context = CallContexts.Create();

        context.SetMatomoVar("dimension1", "x");

        Assert.That(context.GetMatomoCall(), Is.Null);
        Assert.That(context.UserState, Is.Empty);
    }

    [Test]
    public async Task AddMatomoCustomVariable_InTrackedCall_AppendsAfterBuiltInOnes()
    {
        await RunUnary(c =>
        {
            c.AddMatomoCustomVariable("tenant", "acme");
            c.AddMatomoCustomVariable("plan", null);
        });

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Is.EqualTo(new[] { "status=OK (0)", "kind=unary", "tenant=acme", "plan=" }));
    }

    [TestCase("")]
    [TestCase("  ")]
    public void AddMatomoCustomVariable_BlankNameTrackedOrNot_ThrowsArgumentException(string name)
    {
        var untracked = CallContexts.Create();
        Exception? inTracked = null;

        _harness.Interceptor.UnaryServerHandler(Request, CallContexts.Create(), (r, c) =>
        {
            inTracked = Catch(() => c.AddMatomoCustomVariable(name, "v"));
            return Task.FromResult(new HelloReply());
        });

        Assert.That(() => untracked.AddMatomoCustomVariable(name, "v"), Throws.ArgumentException);
        Assert.That(inTracked, Is.InstanceOf<ArgumentException>());
    }

    [Test]
    public async Task MeasureMatomoPerf_TimedBlock_RecordsWholeMilliseconds()
    {
        await RunUnary(c =>
        {
            using (c.MeasureMatomoPerf("pf_dm1"))
            {
                _harness.Time.Advance(TimeSpan.FromMilliseconds(42.4));
            }

            _harness.Time.Advance(TimeSpan.FromMilliseconds(8));
        });

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["pf_dm1"], Is.EqualTo("42"));
        Assert.That(hit["pf_srv"], Is.EqualTo("50"), "the call's own duration is unchanged");
    }

    [Test]
    public async Task MeasureMatomoPerf_DefaultName_ReplacesPfSrv()
    {
        await RunUnary(c =>
        {
            _harness.Time.Advance(TimeSpan.FromMilliseconds(30));
            using (c.MeasureMatomoPerf())
            {
                _harness.Time.Advance(TimeSpan.FromMilliseconds(12));
            }
        });

        var hit = await _harness.SingleHitAsync();
        Assert.That(hit["pf_srv"], Is.EqualTo("12"));
    }

    [Test]
    public void MeasureMatomoPerf_UntrackedCall_ReturnsTimerThatRecordsNothing()
    {
        var context = CallContexts.Create();

        var timer = context.MeasureMatomoPerf("pf_dm2");
        timer.Dispose();

        Assert.That(timer, Is.EqualTo(default(MatomoPerfTimer)));
        Assert.That(context.UserState, Is.Empty);
    }

    [TestCase("srv")]
    [TestCase("dimension1")]
    public void MeasureMatomoPerf_NotAPerfNameTrackedOrNot_ThrowsArgumentException(string name)
    {
        var untracked = CallContexts.Create();
        Exception? inTracked = null;

        _harness.Interceptor.UnaryServerHandler(Request, CallContexts.Create(), (r, c) =>
        {
            inTracked = Catch(() => c.MeasureMatomoPerf(name));
            return Task.FromResult(new HelloReply());
        });

        Assert.That(() => untracked.MeasureMatomoPerf(name), Throws.ArgumentException);
        Assert.That(inTracked, Is.InstanceOf<ArgumentException>());
    }

    [Test]
    public async Task SkipMatomoTracking_InTrackedCall_SendsNoHit()
    {
        await RunUnary(c =>
        {
            c.SetMatomoVar("dimension1", "x");
            c.SkipMatomoTracking();
        });

        Assert.That(_harness.Queued, Is.Zero);
    }

    [Test]
    public void SkipMatomoTracking_FailedCall_SendsNoHit()
    {
        Assert.ThrowsAsync<RpcException>(() => _harness.Interceptor.UnaryServerHandler<HelloRequest, HelloReply>(Request, CallContexts.Create(), (r, c) =>
        {
            c.SkipMatomoTracking();
            throw new RpcException(new Status(StatusCode.NotFound, "x"));
        }).WaitAsync(TestTimeouts.Default));

        Assert.That(_harness.Queued, Is.Zero);
    }

    [Test]
    public void SkipMatomoTracking_UntrackedCall_DoesNothing()
    {
        var context = CallContexts.Create();

        Assert.That(context.SkipMatomoTracking, Throws.Nothing);
    }

    [Test]
    public async Task GetMatomoCall_InTrackedCall_ReturnsTheCallsScope()
    {
        MatomoCall? call = null;

        await RunUnary(c => call = c.GetMatomoCall());

        Assert.That(call, Is.Not.Null);
        Assert.That(call!.Action, Is.EqualTo("greet.Greeter/SayHello"));
        Assert.That(call.Kind, Is.EqualTo(MatomoCallKind.Unary));
        call.SetVar("e_n", "after the end");
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.Hit.Action, Is.EqualTo(call.Action));
        Assert.That(hit["e_n"], Is.Null, "completed when the call ended: later changes are ignored");
    }

    [Test]
    public async Task GetMatomoCall_DuplexCall_SameScopeInEveryTaskOfTheHandler()
    {
        var context = CallContexts.Create(CallContexts.Chat);
        var requests = new ListStreamReader<HelloRequest>(new HelloRequest { Name = "a" });
        var seen = new List<MatomoCall?>();

        await _harness.Interceptor.DuplexStreamingServerHandler(requests, new ListStreamWriter<HelloReply>(), context, async (i, o, c) =>
        {
            seen.Add(c.GetMatomoCall());
            seen.Add(await Task.Run(() => c.GetMatomoCall()));
            await Task.Run(() => c.AddMatomoCustomVariable("from", "worker"));
        }).WaitAsync(TestTimeouts.Default);

        Assert.That(seen[0], Is.Not.Null);
        Assert.That(seen[1], Is.SameAs(seen[0]));
        var hit = await _harness.SingleHitAsync();
        Assert.That(hit.CustomVariables(), Does.Contain("from=worker"));
    }

    [Test]
    public void GetMatomoCall_NoInterceptor_ReturnsNull()
    {
        var context = CallContexts.Create();

        Assert.That(context.GetMatomoCall(), Is.Null);
    }

    [Test]
    public async Task UserState_TrackedCall_HoldsOneEntryUnderANonStringKeyAndKeepsTheServicesOwn()
    {
        var context = CallContexts.Create();
        context.UserState["app"] = "value";
        IDictionary<object, object>? during = null;

        await RunUnary(c => during = new Dictionary<object, object>(c.UserState), context);

        Assert.That(during, Has.Count.EqualTo(2));
        var ours = during!.Single(e => !Equals(e.Key, "app"));
        Assert.That(ours.Key, Is.Not.InstanceOf<string>(), "a private key that no one else can collide with");
        Assert.That(ours.Value, Is.InstanceOf<MatomoCallScope>());
        Assert.That(context.UserState["app"], Is.EqualTo("value"));
    }

    [Test]
    public void Extensions_NullContext_ThrowArgumentNullException()
    {
        ServerCallContext context = null!;

        Assert.That(() => context.SetMatomoVar("e_c", "x"), Throws.ArgumentNullException);
        Assert.That(() => context.AddMatomoCustomVariable("a", "x"), Throws.ArgumentNullException);
        Assert.That(() => context.MeasureMatomoPerf(), Throws.ArgumentNullException);
        Assert.That(() => context.SkipMatomoTracking(), Throws.ArgumentNullException);
        Assert.That(() => context.GetMatomoCall(), Throws.ArgumentNullException);
    }

    private static Exception? Catch(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }
}
