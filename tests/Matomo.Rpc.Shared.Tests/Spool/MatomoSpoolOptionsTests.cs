using Matomo.Rpc.Internal.Spool;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>Matomo:Spool:* binding, validation at start, and how the directory is resolved.</summary>
[TestFixture]
public class MatomoSpoolOptionsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static async Task<(Exception? Error, MatomoOptions? Options)> StartAsync(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Matomo:TrackerUrl"] = "https://matomo.example.org/matomo.php",
            ["Matomo:SiteId"] = "1",
        }.Concat(settings)).Build();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddMatomoTracking(configuration.GetSection("Matomo"));
        using var host = builder.Build();
        try
        {
            await host.StartAsync().WaitAsync(Timeout);
            var options = host.Services.GetRequiredService<IOptions<MatomoOptions>>().Value;
            await host.StopAsync().WaitAsync(Timeout);
            return (null, options);
        }
        catch (OptionsValidationException ex)
        {
            return (ex, null);
        }
    }

    [Test]
    public void Defaults_SpoolIsOffWith100MegabytesLimit()
    {
        var options = new MatomoOptions();

        Assert.That(options.Spool.Directory, Is.Null);
        Assert.That(options.Spool.MaxBytes, Is.EqualTo(104_857_600));
        Assert.That(SpoolSettings.From(options.Spool, "/srv/app"), Is.Null);
    }

    [Test]
    public async Task Start_SpoolKeys_AreBound()
    {
        var (error, options) = await StartAsync(new() { ["Matomo:Spool:Directory"] = "matomo-spool", ["Matomo:Spool:MaxBytes"] = "1048576" });

        Assert.That(error, Is.Null);
        Assert.That(options!.Spool.Directory, Is.EqualTo("matomo-spool"));
        Assert.That(options.Spool.MaxBytes, Is.EqualTo(1_048_576));
    }

    [Test]
    public async Task Start_EmptyDirectory_MeansNoSpool()
    {
        var (error, options) = await StartAsync(new() { ["Matomo:Spool:Directory"] = string.Empty });

        Assert.That(error, Is.Null);
        Assert.That(SpoolSettings.From(options!.Spool, "/srv/app"), Is.Null);
    }

    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(65535)]
    public async Task Start_MaxBytesTooSmall_NamesTheKeyAndTheDefault(long maxBytes)
    {
        var (error, _) = await StartAsync(new() { ["Matomo:Spool:MaxBytes"] = maxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) });

        Assert.That(error, Is.InstanceOf<OptionsValidationException>());
        Assert.That(error!.Message, Does.Contain("Matomo:Spool:MaxBytes must be at least 65536").And.Contain("104857600"));
    }

    [TestCase("   ")]
    [TestCase("spool\0dir")]
    public async Task Start_DirectoryBlankOrNotAPath_NamesTheKey(string directory)
    {
        var (error, _) = await StartAsync(new() { ["Matomo:Spool:Directory"] = directory });

        Assert.That(error, Is.InstanceOf<OptionsValidationException>());
        Assert.That(error!.Message, Does.Contain("Matomo:Spool:Directory"));
    }

    [Test]
    public async Task Start_MisspelledSpoolKey_NamesTheSetting()
    {
        var (error, _) = await StartAsync(new() { ["Matomo:Spool:Directroy"] = "matomo-spool" });

        Assert.That(error, Is.InstanceOf<OptionsValidationException>());
        Assert.That(error!.Message, Does.Contain("Matomo:Spool:Directory"));
    }

    [Test]
    public void From_RelativeDirectory_IsUnderTheContentRoot()
    {
        var settings = SpoolSettings.From(new MatomoSpoolOptions { Directory = "data/spool", MaxBytes = 1_000_000 }, "/srv/app");

        Assert.That(settings, Is.EqualTo(new SpoolSettings("/srv/app/data/spool", 1_000_000)));
    }

    [Test]
    public void From_AbsoluteDirectory_IsKept()
    {
        var settings = SpoolSettings.From(new MatomoSpoolOptions { Directory = "/var/spool/matomo/../matomo-rpc" }, "/srv/app");

        Assert.That(settings!.Directory, Is.EqualTo("/var/spool/matomo-rpc"));
    }

    [Test]
    public void From_NoContentRoot_UsesTheCurrentDirectory()
    {
        var settings = SpoolSettings.From(new MatomoSpoolOptions { Directory = "spool" }, null);

        Assert.That(settings!.Directory, Is.EqualTo(Path.Combine(Directory.GetCurrentDirectory(), "spool")));
    }
}
