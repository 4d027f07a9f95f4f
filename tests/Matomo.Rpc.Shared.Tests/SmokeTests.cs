using Microsoft.Extensions.DependencyInjection;

namespace Matomo.Rpc.Shared.Tests;

public class SmokeTests
{
    [Test]
    public void AddMatomoTracking_LogOnly_ResolvesTracker()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddMatomoTracking(o => { o.LogOnly = true; o.SiteId = 1; });
        using var provider = services.BuildServiceProvider();

        var tracker = provider.GetRequiredService<MatomoTracker>();

        Assert.That(tracker.StartCall("greet.Greeter/SayHello", MatomoCallKind.Unary), Is.Not.Null);
    }
}
