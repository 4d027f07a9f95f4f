using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Matomo.Rpc.AspNetCore.Tests;

/// <summary><c>Matomo:Http</c> bound from configuration and checked at start, with messages that name the key.</summary>
public sealed class MatomoHttpOptionsTests
{
    private static IConfigurationSection Matomo(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Matomo:LogOnly"] = "true", ["Matomo:SiteId"] = "1", ["Matomo:Check:Enabled"] = "false" })
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>("Matomo:" + v.Key, v.Value)))
            .Build()
            .GetSection("Matomo");

    private static async Task<(Exception? Error, IServiceProvider Services)> StartAsync(IConfigurationSection configuration, Action<MatomoHttpOptions>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddMatomoTracking(configuration).AddHttpTracking(configure);
        var host = builder.Build();
        try
        {
            await host.StartAsync();
            await host.StopAsync();
            return (null, host.Services);
        }
#pragma warning disable CA1031 // the test looks at any start failure
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return (ex, host.Services);
        }
    }

    [Test]
    public async Task Start_HttpSection_BoundNextToTheCoreOptions()
    {
        var (error, services) = await StartAsync(Matomo(
            ("SiteId", "3"), ("Http:KeepQuery", "true"), ("Http:IgnoredMethods:0", "options"), ("Http:ExcludeStaticFiles", "false")));

        Assert.That(error, Is.Null);
        var http = services.GetRequiredService<IOptions<MatomoHttpOptions>>().Value;
        Assert.That(http.KeepQuery, Is.True);
        Assert.That(http.IgnoredMethods, Is.EqualTo(new[] { "options" }));
        Assert.That(http.ExcludeStaticFiles, Is.False);
        Assert.That(http.ExcludeHealthChecks, Is.True);
        Assert.That(services.GetRequiredService<IOptions<MatomoOptions>>().Value.SiteId, Is.EqualTo(3));
    }

    [Test]
    public async Task Start_UnknownHttpKey_FailsNamingIt()
    {
        var (error, _) = await StartAsync(Matomo(("Http:KeepQeury", "true")));

        Assert.That(error, Is.Not.Null);
        Assert.That(error!.Message, Does.Contain("KeepQeury"));
    }

    [Test]
    public async Task Start_UnknownCoreKey_StillFailsNamingIt()
    {
        var (error, _) = await StartAsync(Matomo(("Htp:KeepQuery", "true")));

        Assert.That(error, Is.Not.Null);
        Assert.That(error!.Message, Does.Contain("Htp"));
    }

    [TestCase("AllowedMethods", "GE T")]
    [TestCase("IgnoredMethods", "")]
    public async Task Start_BadMethod_FailsNamingTheKey(string list, string method)
    {
        var (error, _) = await StartAsync(Matomo(("Http:" + list + ":0", "GET"), ("Http:" + list + ":1", method)));

        Assert.That(error, Is.InstanceOf<OptionsValidationException>());
        Assert.That(error!.Message, Does.Contain("Matomo:Http:" + list + ":1"));
    }

    [Test]
    public async Task Start_MethodAllowedAndIgnored_FailsNamingBoth()
    {
        var (error, _) = await StartAsync(Matomo(("Http:AllowedMethods:0", "POST"), ("Http:IgnoredMethods:0", "post")));

        Assert.That(error, Is.InstanceOf<OptionsValidationException>());
        Assert.That(error!.Message, Does.Contain("Matomo:Http:AllowedMethods and Matomo:Http:IgnoredMethods both list"));
    }

    [Test]
    public async Task Start_MethodDimensionWithoutCustomDimensions_FailsNamingTheFix()
    {
        var (error, _) = await StartAsync(Matomo(("Http:MethodDimension", "3")));

        Assert.That(error, Is.InstanceOf<OptionsValidationException>());
        Assert.That(error!.Message, Does.Contain("Matomo:Http:MethodDimension").And.Contain("Matomo:Recording"));
    }

    [TestCase(0)]
    [TestCase(2)]
    public async Task Start_MethodDimensionZeroOrTaken_Fails(int dimension)
    {
        var (error, _) = await StartAsync(Matomo(
            ("Recording", "CustomDimensions"), ("Dimensions:Outcome", "2"), ("Http:MethodDimension", dimension.ToString(CultureInfo.InvariantCulture))));

        Assert.That(error, Is.InstanceOf<OptionsValidationException>());
        Assert.That(error!.Message, Does.Contain("Matomo:Http:MethodDimension"));
    }

    [Test]
    public void UseMatomoTracking_WithoutAddHttpTracking_ThrowsNamingTheFix()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddMatomoTracking(o => o.LogOnly = true);
        var app = builder.Build();

        Assert.That(() => app.UseMatomoTracking(), Throws.InvalidOperationException.With.Message.Contains("AddHttpTracking()"));
    }

    [Test]
    public void UseMatomoTracking_WithoutRouting_ThrowsNamingTheFix()
    {
        var services = new ServiceCollection();
        services.AddMatomoTracking(o => o.LogOnly = true).AddHttpTracking();
        var app = new ApplicationBuilder(services.BuildServiceProvider());

        Assert.That(() => app.UseMatomoTracking(), Throws.InvalidOperationException.With.Message.Contains("UseRouting()"));
    }
}
