using System.Diagnostics;
using Grpc.Core;
using Matomo.Rpc.Grpc;
using Matomo.Rpc.Grpc.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.RealMatomo.Tests;

/// <summary>
/// Base of the real-Matomo fixtures: skips them (with the reason) without a Matomo in the environment, and gives each
/// test its own site so that tests never see each other's hits.
/// </summary>
public abstract class RealMatomoFixture
{
    private RealMatomo? _matomo;

    protected RealMatomo Matomo => _matomo ?? throw new InvalidOperationException("No real Matomo.");

    [OneTimeSetUp]
    public void FindMatomo() => _matomo = RealMatomo.FromEnvironmentOrIgnore();

    [OneTimeTearDown]
    public void ForgetMatomo() => _matomo?.Dispose();

    /// <summary>The write user's token when there is one (the access the README recommends), else the super user's.</summary>
    protected string TrackingToken => RealMatomo.WriteToken ?? Matomo.SuperUserToken;

    protected Task<int> NewSiteAsync() => Matomo.CreateSiteAsync(TestContext.CurrentContext.Test.Name);

    /// <summary>Options as an app pointing at this Matomo would set them, sending quickly.</summary>
    protected void Track(MatomoOptions o, int site, string? token)
    {
        o.TrackerUrl = Matomo.TrackerUrl;
        o.SiteId = site;
        o.TokenAuth = token;
        o.AllowTokenOverHttp = true;
        o.AssumeHttps = false;
        o.Sending.FlushInterval = TimeSpan.FromMilliseconds(50);
        o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(200);
        o.Sending.RetryMaxDelay = TimeSpan.FromSeconds(1);
        o.Sending.ShutdownTimeout = TimeSpan.FromSeconds(10);
    }

    /// <summary>A Kestrel host with the test greeter, tracked by <see cref="MatomoInterceptor"/> into <paramref name="site"/>.</summary>
    protected Task<GrpcTestHost> StartGrpcAsync(int site, string? token, Action<MatomoOptions>? configure = null) =>
        GrpcTestHost.StartAsync(services =>
        {
            services.AddGrpc(o => o.Interceptors.Add<MatomoInterceptor>());
            services.AddMatomoTracking(o =>
            {
                Track(o, site, token);
                configure?.Invoke(o);
            });
        });

    /// <summary>Waits (polling the tracker's counters) until every one of <paramref name="calls"/> hits was sent, rejected or dropped.</summary>
    protected static async Task<MatomoStatistics> WaitUntilAccountedAsync(IServiceProvider services, long calls, TimeSpan? patience = null)
    {
        var tracker = services.GetRequiredService<MatomoTracker>();
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var stats = tracker.Statistics;
            if (stats.Sent + stats.Rejected + stats.Dropped >= calls)
            {
                return stats;
            }

            if (watch.Elapsed > (patience ?? RealMatomo.Patience))
            {
                Assert.Fail($"After {watch.Elapsed} the tracker accounts for {stats.Sent + stats.Rejected + stats.Dropped} of {calls} hits: {stats}");
            }

            await Task.Delay(50);
        }
    }

    protected static async Task<StatusCode> StatusOfAsync(Func<Task> call)
    {
        try
        {
            await call();
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }
}
