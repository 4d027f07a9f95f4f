using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// Matomo 5 answers a bulk request with HTTP 200 and a plain-text "Error:..." body when an exception escapes its tracker
/// (seen with its database stopped). Those hits were not stored and must be retried, not counted as rejected.
/// </summary>
public class HttpBulkWriterMatomoErrorTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Test]
    public async Task Send_MatomoAnswers200WithErrorText_RetriesUntilStored()
    {
        using var matomo = new FailingThenHealthyMatomo(failures: 2);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddMatomoTracking(o =>
        {
            o.TrackerUrl = "http://matomo.invalid/matomo.php";
            o.SiteId = 1;
            o.Check.Enabled = false;
            o.Sending.FlushInterval = TimeSpan.FromMilliseconds(20);
            o.Sending.RetryBaseDelay = TimeSpan.FromMilliseconds(20);
            o.Sending.RetryMaxDelay = TimeSpan.FromMilliseconds(50);
        });
        builder.Services.AddHttpClient(MatomoTracker.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => matomo);
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Timeout);
        var tracker = host.Services.GetRequiredService<MatomoTracker>();

        var call = tracker.StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary)!;
        call.Complete();
        var watch = Stopwatch.StartNew();
        while (tracker.Statistics is { Sent: 0, Rejected: 0, Dropped: 0 } && watch.Elapsed < Timeout)
        {
            await Task.Delay(10);
        }

        var stats = tracker.Statistics;
        await host.StopAsync().WaitAsync(Timeout);

        Assert.That(stats.Sent, Is.EqualTo(1), stats.ToString());
        Assert.That(stats.Rejected, Is.Zero, stats.ToString());
        Assert.That(stats.Retried, Is.GreaterThanOrEqualTo(2), stats.ToString());
        Assert.That(matomo.Requests, Is.EqualTo(3));
    }

    private sealed class FailingThenHealthyMatomo(int failures) : HttpMessageHandler
    {
        private int _requests;

        public int Requests => Volatile.Read(ref _requests);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = Interlocked.Increment(ref _requests) <= failures
                ? "Error:SQLSTATE[HY000] [2002] Connection refused"
                : "{\"status\":\"success\",\"tracked\":1,\"invalid\":0}";
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body) });
        }
    }
}
