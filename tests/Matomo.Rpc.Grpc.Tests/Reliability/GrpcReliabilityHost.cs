using System.Collections.Concurrent;
using System.Globalization;
using Greet;
using Grpc.Core;
using Matomo.Rpc.Grpc.Tests.Support;
using Matomo.Rpc.TestSupport;
using Matomo.Rpc.TestSupport.Reliability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>
/// The reliability suite's driver for gRPC: <see cref="GrpcTestHost"/> with <see cref="MatomoInterceptor"/> and
/// <see cref="ServiceCodeInterceptor"/> as service code; a call is a unary <c>SayHello</c> whose caller and sequence
/// the service records as custom variables.
/// </summary>
public sealed class GrpcReliabilityHost : ReliabilityHost, IReliabilityHostFactory
{
    private const int Seed = 20261125;
    private const int HostileCallers = 8;
    private const int HostilePerCaller = 25;

    private readonly GrpcTestHost _host;

    private GrpcReliabilityHost(MatomoStandIn matomo, CapturingLoggerProvider logs, GrpcTestHost host)
        : base(matomo, logs) => _host = host;

    public override MatomoTracker Tracker => _host.Services.GetRequiredService<MatomoTracker>();

    public override string CallAction => "greet.Greeter/SayHello";

    public override string TrackingFailedEvent => "GrpcTrackingFailed";

    public override string PoisonParameter => "dimension3";

    public static async Task<ReliabilityHost> StartAsync(MatomoStandIn matomo, ReliabilityScenario scenario, Action<MatomoOptions> configure, CapturingLoggerProvider logs, LogLevel minimumLevel)
    {
        var host = await GrpcTestHost.StartAsync(services =>
        {
            services.AddLogging(logging => logging.AddProvider(logs).SetMinimumLevel(minimumLevel));
            services.AddSingleton<ServiceCodeRefusals>();
            services.AddMatomoTracking(o =>
            {
                o.TrackerUrl = matomo.TrackerUrl;
                o.SiteId = matomo.SiteId;
                configure(o);
            });
            services.AddGrpc(o =>
            {
                o.Interceptors.Add<MatomoInterceptor>();
                o.Interceptors.Add<ServiceCodeInterceptor>();
            });
        });
        return new GrpcReliabilityHost(matomo, logs, host);
    }

    public override Task<ClientCall> CallAsync(string caller, int sequence) => CallAsync(caller, sequence, null);

    public override Task PoisonCallAsync() =>
        CallAsync("poison", -1, new Metadata { { ServiceCodeInterceptor.VarPrefix + PoisonParameter, "poison" } });

    public override async Task<string> FailingCallAsync()
    {
        try
        {
            await _host.Greeter.SayHelloAsync(new HelloRequest { Name = "crash" }).ResponseAsync.WaitAsync(Timeout);
        }
        catch (RpcException ex)
        {
            return ex.ToString();
        }

        Assert.Fail("the call did not fail");
        return string.Empty;
    }

    public override (string Caller, int Sequence) Key(StoredHit hit) =>
        (hit.CustomVariable("caller") ?? "?", int.Parse(hit.CustomVariable("seq") ?? "-1", CultureInfo.InvariantCulture));

    /// <summary>Random and extreme user agents, languages and referrers, and hostile values the service puts in the per-call API.</summary>
    public override async Task<HostileRun> RunHostileCallersAsync()
    {
        var failures = new ConcurrentBag<string>();
        TestContext.Out.WriteLine($"seed {Seed}");
        await Task.WhenAll(Enumerable.Range(0, HostileCallers).Select(async c =>
        {
            var text = new HostileText(Seed + c);
            for (var i = 0; i < HostilePerCaller; i++)
            {
                var raw = new byte[text.Next(3000)];
                new Random(Seed + (c * 1000) + i).NextBytes(raw);
                var headers = new Metadata
                {
                    { ServiceCodeInterceptor.HostileSeed, (Seed + (c * 1000) + i).ToString(CultureInfo.InvariantCulture) },
                    { ServiceCodeInterceptor.HostileBytes, raw },
                };
                foreach (var name in new[] { "user-agent", "accept-language", "referer" })
                {
                    if (text.HeaderValue() is { Length: > 0 } value)
                    {
                        headers.Add(name, value);
                    }
                }

                try
                {
                    await CallAsync(CallerName(c), i, headers);
                }
                catch (Exception ex)
                {
                    failures.Add($"caller-{c} call {i}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        })).WaitAsync(Timeout);
        const int Total = HostileCallers * HostilePerCaller;
        return new HostileRun(Total, Total, failures);
    }

    public override async Task AssertHostileOutcomeAsync(HostileRun run, IReadOnlyList<StoredHit> hits)
    {
        Assert.That(hits.Select(Key), Is.Unique);
        // The hostile values did reach Matomo: cut to its limits, lone surrogates replaced by U+FFFD.
        Assert.That(hits.Count(h => h["action_name"].Length == 1024), Is.GreaterThan(0));
        Assert.That(hits.Count(h => h.Parameters.Values.Any(v => v.Contains('\uFFFD', StringComparison.Ordinal))), Is.GreaterThan(0));
        Assert.That(hits.Count(h => h.CustomVariables.Count == 5), Is.GreaterThan(0));
        var after = await CallAsync("after", 0);
        Assert.That(after.Duration, Is.LessThan(TimeSpan.FromSeconds(5)), "the host still serves");
    }

    /// <summary>Service code handing the token to the per-call API (refused, and the refusal does not repeat it), and a user agent that starts like it.</summary>
    public override async Task<int> HandTokenToServiceCodeAsync(string token, ICollection<string> exceptions)
    {
        await CallAsync("secret", 1000, new Metadata { { ServiceCodeInterceptor.VarPrefix + "token_auth", token }, { ServiceCodeInterceptor.VarPrefix + "cid", token } });
        for (var i = 0; i < 3; i++)
        {
            await CallAsync("secret", 1001 + i, new Metadata { { "user-agent", token[..8] + "-ua" }, { ServiceCodeInterceptor.HostileSeed, "7" } });
        }

        var refusals = _host.Services.GetRequiredService<ServiceCodeRefusals>().Exceptions;
        Assert.That(refusals, Has.Count.EqualTo(2));
        foreach (var refusal in refusals)
        {
            exceptions.Add(refusal.ToString());
        }

        return 4;
    }

    protected override Task StopHostAsync() => _host.App.StopAsync().WaitAsync(Timeout);

    protected override ValueTask DisposeHostAsync() => _host.DisposeAsync();

    private async Task<ClientCall> CallAsync(string caller, int sequence, Metadata? extra)
    {
        var headers = new Metadata
        {
            { ServiceCodeInterceptor.Caller, caller },
            { ServiceCodeInterceptor.Sequence, sequence.ToString(CultureInfo.InvariantCulture) },
        };
        foreach (var entry in extra ?? [])
        {
            headers.Add(entry);
        }

        HelloReply? reply = null;
        var call = await ClientCall.TimeAsync(caller, sequence, async () =>
            reply = await _host.Greeter.SayHelloAsync(new HelloRequest { Name = caller }, headers).ResponseAsync.WaitAsync(Timeout));
        Assert.That(reply!.Message, Is.EqualTo("Hello " + caller));
        return call;
    }
}
