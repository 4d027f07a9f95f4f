using System.Net;
using System.Net.Http.Headers;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>How long the sender waits when Matomo, or a proxy before it, answers with <c>Retry-After</c>.</summary>
public class RetryAfterTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void RetryAfter_Seconds_IsThatLong()
    {
        using var response = Answer(r => r.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(7)));

        Assert.That(HttpBulkWriter.RetryAfter(response, Now), Is.EqualTo(TimeSpan.FromSeconds(7)));
    }

    [Test]
    public void RetryAfter_DateWithoutTheAnswersDate_MeasuredFromTheTrackersClock()
    {
        using var response = Answer(r => r.Headers.RetryAfter = new RetryConditionHeaderValue(Now.AddSeconds(30)));

        Assert.That(HttpBulkWriter.RetryAfter(response, Now), Is.EqualTo(TimeSpan.FromSeconds(30)));
    }

    [Test]
    public void RetryAfter_DateWithTheAnswersDate_MeasuredFromTheServersClockWhateverTheSkew()
    {
        // The server's clock is an hour behind the tracker's: measured from the tracker's clock, the date would have passed.
        var serverNow = Now.AddHours(-1);
        using var response = Answer(r =>
        {
            r.Headers.Date = serverNow;
            r.Headers.RetryAfter = new RetryConditionHeaderValue(serverNow.AddSeconds(20));
        });

        Assert.That(HttpBulkWriter.RetryAfter(response, Now), Is.EqualTo(TimeSpan.FromSeconds(20)));
    }

    [Test]
    public void RetryAfter_DatePassed_IsZero()
    {
        using var response = Answer(r => r.Headers.RetryAfter = new RetryConditionHeaderValue(Now.AddSeconds(-5)));

        Assert.That(HttpBulkWriter.RetryAfter(response, Now), Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public void RetryAfter_None_IsNull()
    {
        using var response = Answer(_ => { });

        Assert.That(HttpBulkWriter.RetryAfter(response, Now), Is.Null);
    }

    private static HttpResponseMessage Answer(Action<HttpResponseMessage> configure)
    {
        var response = new HttpResponseMessage((HttpStatusCode)429);
        configure(response);
        return response;
    }
}
