using System.Globalization;
using Microsoft.Extensions.Options;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>Checks <see cref="MatomoHttpOptions"/> at start; every message names the key and the fix.</summary>
internal sealed class MatomoHttpOptionsValidator : IValidateOptions<MatomoHttpOptions>
{
    private readonly IOptionsMonitor<MatomoOptions> _matomo;

    public MatomoHttpOptionsValidator(IOptionsMonitor<MatomoOptions> matomo) => _matomo = matomo;

    public ValidateOptionsResult Validate(string? name, MatomoHttpOptions options)
    {
        var errors = new List<string>();
        CheckMethods(options.AllowedMethods, "AllowedMethods", errors);
        CheckMethods(options.IgnoredMethods, "IgnoredMethods", errors);
        foreach (var method in options.AllowedMethods.Intersect(options.IgnoredMethods, StringComparer.OrdinalIgnoreCase))
        {
            errors.Add($"Matomo:Http:AllowedMethods and Matomo:Http:IgnoredMethods both list '{method}'; remove it from one of them (ignored wins).");
        }

        if (options.MethodDimension is { } dimension)
        {
            var text = dimension.ToString(CultureInfo.InvariantCulture);
            if (dimension < 1)
            {
                errors.Add($"Matomo:Http:MethodDimension is {text}; set it to the ID of an action-scoped custom dimension (1 or more) shown in Matomo under Administration > Websites > Custom Dimensions, or remove it.");
            }
            else
            {
                var matomo = _matomo.Get(Options.DefaultName);
                if (!matomo.Recording.HasFlag(MatomoRecording.CustomDimensions))
                {
                    errors.Add($"Matomo:Http:MethodDimension is set but Matomo:Recording ({matomo.Recording}) does not include CustomDimensions, so it would never be sent; set Matomo:Recording to CustomDimensions or Both, or remove Matomo:Http:MethodDimension.");
                }

                var d = matomo.Dimensions;
                foreach (var (key, index) in new (string, int?)[] { ("Outcome", d.Outcome), ("CallKind", d.CallKind), ("Messages", d.Messages), ("Error", d.Error), ("Transport", d.Transport) })
                {
                    if (index == dimension)
                    {
                        errors.Add($"Matomo:Http:MethodDimension and Matomo:Dimensions:{key} both use dimension {text}; give the method its own dimension.");
                    }
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckMethods(List<string> methods, string key, List<string> errors)
    {
        for (var i = 0; i < methods.Count; i++)
        {
            var method = methods[i];
            var at = $"Matomo:Http:{key}:{i.ToString(CultureInfo.InvariantCulture)}";
            if (string.IsNullOrWhiteSpace(method))
            {
                errors.Add($"{at} is empty; remove it or set an HTTP method such as GET.");
            }
            else if (!HttpMethodNames.IsToken(method))
            {
                errors.Add($"{at} '{method}' is not an HTTP method (letters, digits and !#$%&'*+-.^_`|~ only, no spaces); set a method such as GET or POST.");
            }
        }
    }
}
