namespace Matomo.Rpc.RealMatomo.Tests;

/// <summary>
/// Before any real-Matomo test: a kit that outlives its runs (as CI's does) keeps whatever a killed run left behind.
/// One test deactivates the CustomVariables plugin for its duration; when a run is killed inside it, every later run's
/// custom variables would be lost. Puts the plugin back, and says so.
/// </summary>
[SetUpFixture]
public sealed class KitStateGuard
{
    [OneTimeSetUp]
    public async Task RestoreWhatAKilledRunLeft()
    {
        if (RealMatomo.Variable("MATOMO_URL") is null || RealMatomo.Variable("MATOMO_TOKEN_SUPERUSER") is null || RealMatomo.Console is not { } console)
        {
            return;
        }

        using var matomo = RealMatomo.FromEnvironmentOrIgnore();
        var (_, active) = await matomo.CallAsync("API.isPluginActivated", [new("pluginName", "CustomVariables")]);
        if (active.ValueKind == System.Text.Json.JsonValueKind.Object && active.TryGetProperty("value", out var value) && value.ValueKind == System.Text.Json.JsonValueKind.False)
        {
            var (exitCode, output) = await RealMatomo.RunAsync(console, ["plugin:activate", "CustomVariables"], TimeSpan.FromSeconds(60));
            Assert.That(exitCode, Is.EqualTo(0), output);
            await TestContext.Progress.WriteLineAsync("The kit's CustomVariables plugin was deactivated (a run killed inside a test that turns it off): activated again.");
        }
    }
}
