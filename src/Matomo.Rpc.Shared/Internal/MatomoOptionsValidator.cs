using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Checks of <see cref="MatomoOptions"/>: the configuration mistakes found while binding, the range attributes and the
/// cross-field rules. Every message names the key and the fix; a key already reported as misconfigured is reported once.
/// </summary>
internal sealed class MatomoOptionsValidator : IValidateOptions<MatomoOptions>
{
    private const long MinSpoolBytes = 64 * 1024;
    private static readonly TimeSpan PatternTimeout = TimeSpan.FromMilliseconds(100);

    private readonly MatomoOptionsDataValidator _attributes = new();

    public ValidateOptionsResult Validate(string? name, MatomoOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (_attributes.Validate(name, options) is { Failed: true, Failures: { } failures })
        {
            // The generated validator puts a nested member's name before its message ("BatchSize: Matomo:Sending:BatchSize ...").
            errors.AddRange(failures.Select(f => f.IndexOf(": " + MatomoOptions.SectionName + ":", StringComparison.Ordinal) is var at and > 0 && !f[..at].Contains(' ', StringComparison.Ordinal)
                ? f[(at + 2)..]
                : f));
        }

        ValidateRules(options, errors);

        var problems = MatomoConfigurationBinder.ProblemsOf(options);
        if (problems.Count > 0)
        {
            // A key that did not bind keeps its default, which the checks above may refuse: say only what was wrong with it.
            errors.RemoveAll(error => problems.Any(p => Mentions(error, p.Key) || Mentions(error, MatomoOptions.SectionName + ":" + p.RelativeKey)));
            errors.InsertRange(0, problems.Select(p => p.Message));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void ValidateRules(MatomoOptions options, List<string> errors)
    {

        if (!options.LogOnly)
        {
            if (string.IsNullOrWhiteSpace(options.TrackerUrl))
            {
                errors.Add("Matomo:TrackerUrl is not set. Set it to your Matomo's tracking endpoint, e.g. https://matomo.example.org/matomo.php, or set Matomo:LogOnly to true to write hits to the log instead.");
            }
            else if (ResolveEndpoint(options.TrackerUrl, out var error) is not { } endpoint)
            {
                errors.Add(error!);
            }
            else if (!string.IsNullOrEmpty(options.TokenAuth) && endpoint.Scheme == Uri.UriSchemeHttp && !IsLoopback(endpoint) && !options.AllowTokenOverHttp)
            {
                errors.Add($"Matomo:TokenAuth would be sent in clear text to {endpoint.Host}: Matomo:TrackerUrl uses http. Use an https tracker URL, or set Matomo:AllowTokenOverHttp to true if the network is trusted.");
            }
        }

        if (options.TokenAuth is { Length: > 0 } token && (token.Trim().Length != token.Length || token.Any(char.IsControl)))
        {
            errors.Add("Matomo:TokenAuth has leading or trailing spaces or control characters; copy the token again from Matomo (Administration > Personal > Security > Auth tokens).");
        }

        if (options.BaseUrl is { Length: > 0 } baseUrl
            && !(Uri.TryCreate(baseUrl, UriKind.Absolute, out var baseUri) && (baseUri.Scheme == Uri.UriSchemeHttp || baseUri.Scheme == Uri.UriSchemeHttps)))
        {
            errors.Add($"Matomo:BaseUrl '{baseUrl}' is not an absolute http or https URL; set it like https://api.example.org, or leave it empty to use the request's host.");
        }

        CheckPatterns(options.ExcludedPatterns, "Matomo:ExcludedPatterns", errors);
        CheckPatterns(options.IgnoredUserAgentPatterns, "Matomo:IgnoredUserAgentPatterns", errors);

        for (var i = 0; i < options.ExcludedActions.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(options.ExcludedActions[i]))
            {
                errors.Add($"Matomo:ExcludedActions:{i} is empty; remove it or set an action name such as greet.Greeter/SayHello.");
            }
        }

        foreach (var (action, parameters) in options.ActionDetails)
        {
            foreach (var (parameter, value) in parameters)
            {
                if (parameter == "action_name")
                {
                    continue;
                }

                if ((ParameterRules.CheckName(parameter) ?? ParameterRules.CheckValue(parameter, value ?? string.Empty)) is { } problem)
                {
                    errors.Add($"Matomo:ActionDetails:{action}:{parameter}: {problem}");
                }
            }
        }

        CheckDimensions(options, errors);

        if (options.VisitorIdentity == MatomoVisitorIdentity.Header && string.IsNullOrWhiteSpace(options.VisitorIdHeader))
        {
            errors.Add("Matomo:VisitorIdentity is Header but Matomo:VisitorIdHeader is not set; set it to the request header that carries the caller's key, e.g. x-client-id.");
        }

        var sending = options.Sending;
        if (sending.MaxBatchSize < sending.BatchSize && sending.MaxBatchSize >= 1 && sending.BatchSize <= 1000)
        {
            errors.Add($"Matomo:Sending:MaxBatchSize ({sending.MaxBatchSize}) is below Matomo:Sending:BatchSize ({sending.BatchSize}); set it to at least BatchSize (equal keeps every batch at BatchSize), or leave it at its default 1000.");
        }

        CheckPositive(sending.FlushInterval, "Matomo:Sending:FlushInterval", "00:00:01", errors);
        CheckPositive(sending.HttpTimeout, "Matomo:Sending:HttpTimeout", "00:00:05", errors);
        CheckPositive(sending.RetryBaseDelay, "Matomo:Sending:RetryBaseDelay", "00:00:01", errors);
        CheckPositive(sending.DegradedAfter, "Matomo:Sending:DegradedAfter", "00:00:30", errors);
        if (sending.RetryMaxDelay < sending.RetryBaseDelay)
        {
            errors.Add("Matomo:Sending:RetryMaxDelay is shorter than Matomo:Sending:RetryBaseDelay; set it to at least that, e.g. 00:00:30.");
        }

        CheckPositive(options.Check.Timeout, "Matomo:Check:Timeout", "00:00:10", errors);

        if (sending.ShutdownTimeout < TimeSpan.Zero)
        {
            errors.Add("Matomo:Sending:ShutdownTimeout is negative; set it to 00:00:00 (drop what is queued at shutdown) or longer, e.g. 00:00:05.");
        }

        CheckSpool(options.Spool, errors);
        CheckSampling(options.Sampling, errors);
        if (options.Recording == MatomoRecording.CustomDimensions && options.Dimensions.SampleRate is null
            && (options.Sampling.Rate < 1 || options.Sampling.Actions.Values.Any(rate => rate < 1)))
        {
            errors.Add("Matomo:Sampling tracks part of the calls but their sample rate would be recorded nowhere: Matomo:Recording is CustomDimensions and Matomo:Dimensions:SampleRate is not set. Set it to the ID of an action-scoped custom dimension, or set Matomo:Recording to Both.");
        }
    }

    private static bool Mentions(string error, string key)
    {
        for (var at = error.IndexOf(key, StringComparison.OrdinalIgnoreCase); at >= 0; at = error.IndexOf(key, at + 1, StringComparison.OrdinalIgnoreCase))
        {
            var end = at + key.Length;
            if ((at == 0 || !IsKeyChar(error[at - 1])) && (end == error.Length || !IsKeyChar(error[end])))
            {
                return true;
            }
        }

        return false;

        static bool IsKeyChar(char c) => char.IsLetterOrDigit(c) || c == ':' || c == '_';
    }

    /// <summary>The tracking endpoint for a configured tracker URL: a base URL gets matomo.php appended.</summary>
    public static Uri? ResolveEndpoint(string trackerUrl, out string? error)
    {
        error = null;
        if (!Uri.TryCreate(trackerUrl.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            error = "Matomo:TrackerUrl is not an absolute http or https URL; set it like https://matomo.example.org/matomo.php.";
            return null;
        }

        if (uri.UserInfo.Length > 0)
        {
            error = "Matomo:TrackerUrl contains a user name or password, which would end up in logs; remove it and add authentication with a handler on the Matomo.Rpc HTTP client.";
            return null;
        }

        if (uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            error = "Matomo:TrackerUrl has a query string or fragment; give only the endpoint, e.g. https://matomo.example.org/matomo.php, and the token in Matomo:TokenAuth.";
            return null;
        }

        var path = uri.AbsolutePath;
        if (path.EndsWith("/matomo.php", StringComparison.OrdinalIgnoreCase) || path.EndsWith("/piwik.php", StringComparison.OrdinalIgnoreCase))
        {
            return uri;
        }

        var builder = new UriBuilder(uri) { Path = path.TrimEnd('/') + "/matomo.php" };
        return builder.Uri;
    }

    public static Regex CompilePattern(string pattern) =>
        new(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled, PatternTimeout);

    private static void CheckPatterns(List<string> patterns, string key, List<string> errors)
    {
        for (var i = 0; i < patterns.Count; i++)
        {
            try
            {
                _ = new Regex(patterns[i], RegexOptions.CultureInvariant, PatternTimeout);
            }
            catch (ArgumentException ex)
            {
                errors.Add($"{key}:{i} is not a valid regular expression ({ex.Message}); fix or remove it.");
            }
        }
    }

    private static void CheckDimensions(MatomoOptions options, List<string> errors)
    {
        var d = options.Dimensions;
        var mapped = new (string Key, int? Index)[]
        {
            ("Outcome", d.Outcome), ("CallKind", d.CallKind), ("Messages", d.Messages), ("Error", d.Error), ("Transport", d.Transport), ("SampleRate", d.SampleRate),
        };
        var seen = new Dictionary<int, string>();
        var any = false;
        foreach (var (key, index) in mapped)
        {
            if (index is not { } n)
            {
                continue;
            }

            any = true;
            if (n < 1)
            {
                errors.Add($"Matomo:Dimensions:{key} is {n.ToString(CultureInfo.InvariantCulture)}; set it to the ID of a custom dimension (1 or more) shown in Matomo under Administration > Websites > Custom Dimensions, or remove it.");
            }
            else if (!seen.TryAdd(n, key))
            {
                errors.Add($"Matomo:Dimensions:{key} and Matomo:Dimensions:{seen[n]} both use dimension {n.ToString(CultureInfo.InvariantCulture)}; give each field its own dimension.");
            }
        }

        if (options.Recording.HasFlag(MatomoRecording.CustomDimensions) && !any)
        {
            errors.Add("Matomo:Recording includes CustomDimensions but no Matomo:Dimensions ID is set; set e.g. Matomo:Dimensions:Outcome and Matomo:Dimensions:CallKind to the IDs of action-scoped custom dimensions, or record to CustomVariables.");
        }
    }

    private static void CheckSpool(MatomoSpoolOptions spool, List<string> errors)
    {
        if (spool.Directory is { } directory && ((directory.Length > 0 && string.IsNullOrWhiteSpace(directory)) || directory.IndexOfAny(Path.GetInvalidPathChars()) >= 0))
        {
            errors.Add("Matomo:Spool:Directory is blank or has characters a path cannot have; set it to a directory, e.g. matomo-spool (relative to the app's content root), or remove it to keep hits in memory only.");
        }

        if (spool.MaxBytes < MinSpoolBytes)
        {
            errors.Add($"Matomo:Spool:MaxBytes must be at least {MinSpoolBytes.ToString(CultureInfo.InvariantCulture)} (64 KB); the default is 104857600 (100 MB).");
        }
    }

    private static void CheckSampling(MatomoSamplingOptions sampling, List<string> errors)
    {
        if (!IsRate(sampling.Rate))
        {
            errors.Add($"Matomo:Sampling:Rate is {Show(sampling.Rate)}; set the fraction of calls to track, from 0 to 1 (e.g. 0.25 for one call in four), or 1 (the default) to track every call.");
        }

        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, rate) in sampling.Actions)
        {
            var name = MatomoTracker.NormalizeAction(key ?? string.Empty);
            var star = name.IndexOf('*', StringComparison.Ordinal);
            if (string.IsNullOrWhiteSpace(name))
            {
                errors.Add($"Matomo:Sampling:Actions has an empty action name; use an action name such as greet.Greeter/SayHello, or a prefix such as greet.Greeter/* as the key.");
            }
            else if (name == "*")
            {
                errors.Add("Matomo:Sampling:Actions:* would apply to every action; set Matomo:Sampling:Rate instead.");
            }
            else if (star >= 0 && star != name.Length - 1)
            {
                errors.Add($"Matomo:Sampling:Actions:{key} has a '*' before its end; a key is an exact action name (greet.Greeter/SayHello) or a prefix ending in '*' (greet.Greeter/*), not a pattern.");
            }
            else if (!seen.TryAdd(name, key!))
            {
                errors.Add($"Matomo:Sampling:Actions:{key} and Matomo:Sampling:Actions:{seen[name]} name the same action (a leading '/' is ignored); keep one.");
            }

            if (!IsRate(rate))
            {
                errors.Add($"Matomo:Sampling:Actions:{key} is {Show(rate)}; set the fraction of this action's calls to track, from 0 to 1 (e.g. 0.01 for one call in a hundred).");
            }
        }

        static bool IsRate(double rate) => rate is >= 0 and <= 1;

        static string Show(double rate) => rate.ToString(CultureInfo.InvariantCulture);
    }

    private static void CheckPositive(TimeSpan value, string key, string example, List<string> errors)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{key} must be longer than zero, e.g. {example}.");
        }
    }

    private static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
}
