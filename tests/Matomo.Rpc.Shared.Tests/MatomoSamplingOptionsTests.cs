using Matomo.Rpc.Internal;
using Microsoft.Extensions.Configuration;

namespace Matomo.Rpc.Shared.Tests;

[TestFixture]
public class MatomoSamplingOptionsTests
{
    private static MatomoOptions ValidOptions(Action<MatomoSamplingOptions>? sampling = null)
    {
        var options = new MatomoOptions { TrackerUrl = "https://matomo.example.org/matomo.php", SiteId = 1 };
        sampling?.Invoke(options.Sampling);
        return options;
    }

    private static IReadOnlyList<string> Failures(MatomoOptions options) =>
        new MatomoOptionsValidator().Validate(null, options) is { Failed: true, Failures: { } failures } ? [.. failures] : [];

    private static (MatomoOptions Options, IReadOnlyList<string> Failures) Bind(params (string Key, string Value)[] values)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(
                new[] { ("TrackerUrl", "https://matomo.example.org/"), ("SiteId", "1") }.Concat(values)
                    .Select(v => new KeyValuePair<string, string?>("Matomo:" + v.Item1, v.Item2)))
            .Build()
            .GetSection("Matomo");
        var options = new MatomoOptions();
        MatomoConfigurationBinder.Bind(configuration, options);
        return (options, Failures(options));
    }

    [Test]
    public void Defaults_EveryCallTrackedErrorsKept()
    {
        var options = new MatomoOptions();

        Assert.That(options.Sampling.Rate, Is.EqualTo(1));
        Assert.That(options.Sampling.KeepErrors, Is.True);
        Assert.That(options.Sampling.Actions, Is.Empty);
        Assert.That(Failures(ValidOptions()), Is.Empty);
    }

    [Test]
    public void Bind_SamplingKeys_AreSettings()
    {
        var (options, failures) = Bind(("Sampling:Rate", "0.25"), ("Sampling:KeepErrors", "false"),
            ("Sampling:Actions:greet.Greeter/SayHello", "0.5"), ("Sampling:Actions:greet.Greeter/*", "0.01"), ("Dimensions:SampleRate", "6"));

        Assert.That(failures, Is.Empty);
        Assert.That(options.Sampling.Rate, Is.EqualTo(0.25));
        Assert.That(options.Sampling.KeepErrors, Is.False);
        Assert.That(options.Sampling.Actions, Is.EquivalentTo(new Dictionary<string, double> { ["greet.Greeter/SayHello"] = 0.5, ["greet.Greeter/*"] = 0.01 }));
        Assert.That(options.Dimensions.SampleRate, Is.EqualTo(6));
    }

    [Test]
    public void Bind_RateNotANumber_NamesKeyAndFormat()
    {
        var (_, failures) = Bind(("Sampling:Rate", "25%"));

        Assert.That(failures, Is.EqualTo(new[] { "Matomo:Sampling:Rate is '25%', which is not a number; write it with a dot for decimals, e.g. 0.25 (default 1)." }));
    }

    [Test]
    public void Bind_ActionRateWithDecimalComma_NamesKey()
    {
        var (_, failures) = Bind(("Sampling:Actions:greet.Greeter/SayHello", "0,5"));

        Assert.That(failures, Has.Count.EqualTo(1));
        Assert.That(failures[0], Does.StartWith("Matomo:Sampling:Actions:greet.Greeter/SayHello is '0,5', which is not a number"));
    }

    [Test]
    public void Bind_MisspelledSamplingKey_NamesNearest()
    {
        var (_, failures) = Bind(("Sampling:KeepError", "true"));

        Assert.That(failures, Is.EqualTo(new[] { "Matomo:Sampling:KeepError is not a setting; did you mean Matomo:Sampling:KeepErrors?" }));
    }

    [TestCase(-0.1)]
    [TestCase(1.5)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void Validate_RateOutOfRange_NamesKeyAndRange(double rate)
    {
        var failures = Failures(ValidOptions(s => s.Rate = rate));

        Assert.That(failures, Has.Count.EqualTo(1));
        Assert.That(failures[0], Does.StartWith("Matomo:Sampling:Rate is ").And.Contain("from 0 to 1"));
    }

    [TestCase(0.0)]
    [TestCase(0.001)]
    [TestCase(1.0)]
    public void Validate_RateInRange_Valid(double rate)
    {
        Assert.That(Failures(ValidOptions(s => { s.Rate = rate; s.Actions["a/b"] = rate; })), Is.Empty);
    }

    [Test]
    public void Validate_ActionRateOutOfRange_NamesItsKey()
    {
        var failures = Failures(ValidOptions(s => s.Actions["greet.Greeter/SayHello"] = 2));

        Assert.That(failures, Has.Count.EqualTo(1));
        Assert.That(failures[0], Does.StartWith("Matomo:Sampling:Actions:greet.Greeter/SayHello is 2; set the fraction of this action's calls to track, from 0 to 1"));
    }

    [TestCase("greet.*/SayHello", "has a '*' before its end")]
    [TestCase("*", "set Matomo:Sampling:Rate instead")]
    [TestCase("/*", "set Matomo:Sampling:Rate instead")]
    [TestCase(" ", "empty action name")]
    public void Validate_BadActionKey_SaysWhatAKeyIs(string key, string expected)
    {
        var failures = Failures(ValidOptions(s => s.Actions[key] = 0.5));

        Assert.That(failures, Has.Count.EqualTo(1));
        Assert.That(failures[0], Does.StartWith("Matomo:Sampling:Actions").And.Contain(expected));
    }

    [Test]
    public void Validate_SameActionWithAndWithoutSlash_NamesBoth()
    {
        var failures = Failures(ValidOptions(s =>
        {
            s.Actions["greet.Greeter/SayHello"] = 0.5;
            s.Actions["/greet.Greeter/SayHello"] = 0.1;
        }));

        Assert.That(failures, Has.Count.EqualTo(1));
        Assert.That(failures[0], Does.Contain("Matomo:Sampling:Actions:/greet.Greeter/SayHello").And.Contain("Matomo:Sampling:Actions:greet.Greeter/SayHello"));
    }

    [Test]
    public void Validate_SamplingWithDimensionsButNoSampleRateDimension_SaysWhereToRecordIt()
    {
        var options = ValidOptions(s => s.Actions["a/*"] = 0.1);
        options.Recording = MatomoRecording.CustomDimensions;
        options.Dimensions.Outcome = 1;

        var failures = Failures(options);

        Assert.That(failures, Has.Count.EqualTo(1));
        Assert.That(failures[0], Does.Contain("Matomo:Dimensions:SampleRate is not set"));
    }

    [Test]
    public void Validate_SampleRateDimensionSharedWithOutcome_Refused()
    {
        var options = ValidOptions(s => s.Rate = 0.5);
        options.Recording = MatomoRecording.CustomDimensions;
        options.Dimensions.Outcome = 2;
        options.Dimensions.SampleRate = 2;

        var failures = Failures(options);

        Assert.That(failures, Is.EqualTo(new[] { "Matomo:Dimensions:SampleRate and Matomo:Dimensions:Outcome both use dimension 2; give each field its own dimension." }));
    }
}
