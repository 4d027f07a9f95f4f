using System.Collections;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Binds <see cref="MatomoOptions"/> from configuration after checking every key and value against the options' types, so
/// that a typo or a value that does not convert fails the start with a message naming the key and the fix (the
/// configuration binder's own messages name neither), and every such mistake is reported at once.
/// </summary>
internal static class MatomoConfigurationBinder
{
    private const int ShownValueLength = 40;

    private static readonly ConditionalWeakTable<MatomoOptions, List<ConfigurationProblem>> Problems = new();

    /// <summary>Every setting: its path below the options' section, its parent path and its name.</summary>
    private static readonly Lazy<List<Setting>> Settings = new(() =>
    {
        var settings = new List<Setting>();
        Collect(typeof(MatomoOptions), string.Empty, settings);
        return settings;
    });

    public static void Bind(IConfiguration configuration, MatomoOptions options)
    {
        var problems = Check(configuration);
        if (problems.Count == 0)
        {
            configuration.Bind(options, o => o.ErrorOnUnknownConfiguration = true);
            return;
        }

        Problems.GetOrCreateValue(options).AddRange(problems);

        // Bind what is well-formed, so that the other checks see it and only speak of keys not already reported.
        var good = configuration.AsEnumerable(makePathsRelative: true)
            .Where(entry => entry.Value is not null && !problems.Any(p => IsAtOrUnder(entry.Key, p.RelativeKey)));
        new ConfigurationBuilder().AddInMemoryCollection(good).Build().Bind(options);
    }

    /// <summary>The configuration mistakes found while binding <paramref name="options"/>, if any.</summary>
    public static IReadOnlyList<ConfigurationProblem> ProblemsOf(MatomoOptions options) =>
        Problems.TryGetValue(options, out var problems) ? problems : [];

    public static List<ConfigurationProblem> Check(IConfiguration configuration)
    {
        var problems = new List<ConfigurationProblem>();
        var root = configuration is IConfigurationSection section ? section.Path : string.Empty;
        CheckObject(configuration, typeof(MatomoOptions), root, string.Empty, problems);
        return problems;
    }

    private static void CheckNode(IConfigurationSection section, Type type, PropertyInfo? property, object? owner, string root, string relative, List<ConfigurationProblem> problems)
    {
        var children = section.GetChildren().ToList();
        switch (Classify(type))
        {
            case Kind.Scalar:
                foreach (var child in children)
                {
                    problems.Add(new(child.Path, Relative(relative, child.Key), $"{child.Path} is not a setting; {section.Path} takes a single value, set it as {section.Path}."));
                }

                if (section.Value is { } value && Convert(value, type) is { } reason)
                {
                    problems.Add(new(section.Path, relative, ValueMessage(section.Path, value, type, reason, property, owner)));
                }

                break;

            case Kind.List:
                if (children.Count == 0 && !string.IsNullOrEmpty(section.Value))
                {
                    problems.Add(new(section.Path, relative,
                        $"{section.Path} is a list, not a single value; set its items as {section.Path}:0, {section.Path}:1, ... (environment variables {Env(section.Path)}__0, {Env(section.Path)}__1, ...)."));
                }

                foreach (var child in children)
                {
                    CheckNode(child, ElementType(type), null, null, root, Relative(relative, child.Key), problems);
                }

                break;

            case Kind.Dictionary:
                if (children.Count == 0 && !string.IsNullOrEmpty(section.Value))
                {
                    problems.Add(new(section.Path, relative, $"{section.Path} is a section of names and values, not a single value; set it as {section.Path}:<name>."));
                }

                foreach (var child in children)
                {
                    CheckNode(child, ElementType(type), null, null, root, Relative(relative, child.Key), problems);
                }

                break;

            default:
                if (children.Count == 0 && !string.IsNullOrEmpty(section.Value))
                {
                    var first = Settings.Value.FirstOrDefault(s => s.Parent.Equals(relative, StringComparison.OrdinalIgnoreCase));
                    var example = first is null ? string.Empty : $", e.g. {Join(root, first.Path)}";
                    problems.Add(new(section.Path, relative, $"{section.Path} is a section, not a value; set its keys{example}."));
                }

                CheckObject(section, type, root, relative, problems);
                break;
        }
    }

    private static void CheckObject(IConfiguration configuration, Type type, string root, string relative, List<ConfigurationProblem> problems)
    {
        object? defaults = null;
        foreach (var child in configuration.GetChildren())
        {
            var property = SettingsOf(type).FirstOrDefault(p => KeyOf(p).Equals(child.Key, StringComparison.OrdinalIgnoreCase));
            var path = Relative(relative, child.Key);
            if (property is null)
            {
                problems.Add(new(child.Path, path, UnknownMessage(configuration, child, root, relative)));
                continue;
            }

            defaults ??= type.GetConstructor(Type.EmptyTypes) is null ? null : Activator.CreateInstance(type);
            CheckNode(child, property.PropertyType, property, defaults, root, path, problems);
        }
    }

    private static string UnknownMessage(IConfiguration parent, IConfigurationSection child, string root, string relative)
    {
        if (root.Length == 0 && relative.Length == 0 && child.Key.Equals(MatomoOptions.SectionName, StringComparison.OrdinalIgnoreCase))
        {
            return $"{child.Path} is not a setting: the whole configuration was given instead of its {MatomoOptions.SectionName} section; call AddMatomoTracking(configuration.GetSection(\"{MatomoOptions.SectionName}\")).";
        }

        if (Nearest(child.Key, relative) is { } nearest)
        {
            return $"{child.Path} is not a setting; did you mean {Join(root, nearest.Path)}?";
        }

        var names = string.Join(", ", Settings.Value.Where(s => s.Parent.Equals(relative, StringComparison.OrdinalIgnoreCase)).Select(s => s.Name));
        var where = parent is IConfigurationSection section ? section.Path : "this section";
        return $"{child.Path} is not a setting; remove it. The settings of {where} are {names}.";
    }

    /// <summary>The setting whose name is nearest to <paramref name="name"/>, in the same section first, then in any other.</summary>
    private static Setting? Nearest(string name, string parent)
    {
        var limit = Math.Max(1, name.Length / 3);
        Setting? best = null;
        var bestScore = int.MaxValue;
        foreach (var setting in Settings.Value)
        {
            var distance = Distance(name, setting.Name);
            if (distance > limit)
            {
                continue;
            }

            var score = (distance * 2) + (setting.Parent.Equals(parent, StringComparison.OrdinalIgnoreCase) ? 0 : 1);
            if (score < bestScore)
            {
                best = setting;
                bestScore = score;
            }
        }

        return best;
    }

    /// <summary>Optimal string alignment distance (a swap of two neighbours counts as one edit), ignoring case.</summary>
    internal static int Distance(string a, string b)
    {
        a = a.ToUpperInvariant();
        b = b.ToUpperInvariant();
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    /// <summary>Null when <paramref name="value"/> converts as the configuration binder would convert it, else why not.</summary>
    private static string? Convert(string value, Type type)
    {
        var nullable = Nullable.GetUnderlyingType(type);
        var target = nullable ?? type;
        if (target == typeof(string) || (nullable is not null && value.Length == 0))
        {
            return null;
        }

        object? converted;
        try
        {
            converted = TypeDescriptor.GetConverter(target).ConvertFromInvariantString(value);
        }
#pragma warning disable CA1031 // Whatever the converter throws, the binder reports the value as not converting.
        catch (Exception)
#pragma warning restore CA1031
        {
            return "invalid";
        }

        if (target.IsEnum && converted is not null && !IsDefined(target, converted))
        {
            return "invalid";
        }

        if (target == typeof(TimeSpan) && !value.Contains(':', StringComparison.Ordinal) && (TimeSpan)converted! != TimeSpan.Zero)
        {
            return "days";
        }

        return null;
    }

    private static bool IsDefined(Type enumType, object value)
    {
        if (Enum.IsDefined(enumType, value))
        {
            return true;
        }

        if (enumType.GetCustomAttribute<FlagsAttribute>() is null)
        {
            return false;
        }

        var all = 0L;
        foreach (var defined in Enum.GetValues(enumType))
        {
            all |= System.Convert.ToInt64(defined, CultureInfo.InvariantCulture);
        }

        return (System.Convert.ToInt64(value, CultureInfo.InvariantCulture) & ~all) == 0;
    }

    private static string ValueMessage(string path, string value, Type type, string reason, PropertyInfo? property, object? owner)
    {
        var nullable = Nullable.GetUnderlyingType(type) is not null;
        var target = Nullable.GetUnderlyingType(type) ?? type;
        var shown = Show(value);
        var fallback = property is not null && owner is not null ? Format(property.GetValue(owner)) : null;
        var defaultText = fallback is null ? string.Empty : $" (default {fallback})";
        var empty = nullable ? ", or leave it empty" : string.Empty;

        if (target.IsEnum)
        {
            var names = string.Join(", ", Enum.GetNames(target));
            var several = target.GetCustomAttribute<FlagsAttribute>() is null ? string.Empty : " (several separated by commas)";
            return $"{path} is '{shown}', which is not a valid value; set one of {names}{several}{empty}{defaultText}.";
        }

        if (target == typeof(TimeSpan))
        {
            var read = reason == "days" ? $"which would be read as {shown} days" : "which is not a duration";
            return $"{path} is '{shown}', {read}; write it as hours:minutes:seconds, e.g. 00:00:05 for 5 seconds or 00:00:00.500 for 500 milliseconds{empty}{defaultText}.";
        }

        if (target == typeof(bool))
        {
            return $"{path} is '{shown}', which is not a boolean; set true or false{defaultText}.";
        }

        if (target == typeof(int) || target == typeof(long) || target == typeof(short) || target == typeof(byte))
        {
            if (property?.GetCustomAttribute<RangeAttribute>() is { Minimum: int min, Maximum: int max })
            {
                var example = owner is not null && property.GetValue(owner) is int d && d >= min && d <= max ? d : min;
                return $"{path} is '{shown}', which is not a whole number from {Format(min)} to {Format(max)}; set one in digits, e.g. {Format(example)}{empty}.";
            }

            var some = fallback is null ? string.Empty : $", e.g. {fallback}";
            return $"{path} is '{shown}', which is not a whole number; set one in digits{some}{empty}.";
        }

        if (target == typeof(double) || target == typeof(float) || target == typeof(decimal))
        {
            return $"{path} is '{shown}', which is not a number; write it with a dot for decimals, e.g. 0.25{empty}{defaultText}.";
        }

        return $"{path} is '{shown}', which is not a valid {target.Name}{empty}{defaultText}.";
    }

    private static string? Format(object? value) => value switch
    {
        null => null,
        bool b => b ? "true" : "false",
        TimeSpan t => t.ToString("c", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    private static string Show(string value)
    {
        var text = new StringBuilder(Math.Min(value.Length, ShownValueLength) + 1);
        foreach (var c in value.AsSpan(0, Math.Min(value.Length, ShownValueLength)))
        {
            text.Append(char.IsControl(c) ? '?' : c);
        }

        return value.Length > ShownValueLength ? text.Append('…').ToString() : text.ToString();
    }

    private static void Collect(Type type, string parent, List<Setting> settings)
    {
        foreach (var property in SettingsOf(type))
        {
            var path = Relative(parent, KeyOf(property));
            settings.Add(new(path, parent, KeyOf(property)));
            if (Classify(property.PropertyType) == Kind.Object)
            {
                Collect(property.PropertyType, path, settings);
            }
        }
    }

    /// <summary>The public properties with a public getter: what the configuration binder binds.</summary>
    private static string KeyOf(PropertyInfo property) => property.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name ?? property.Name;

    private static IEnumerable<PropertyInfo> SettingsOf(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0);

    private static Kind Classify(Type type)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string) || target.IsPrimitive || target.IsEnum || target == typeof(TimeSpan) || target == typeof(decimal)
            || target == typeof(Uri) || target == typeof(DateTimeOffset) || target == typeof(DateTime) || target == typeof(Guid))
        {
            return Kind.Scalar;
        }

        if (Generic(type, typeof(IDictionary<,>)) is not null)
        {
            return Kind.Dictionary;
        }

        return type.IsArray || (typeof(IEnumerable).IsAssignableFrom(type) && Generic(type, typeof(IEnumerable<>)) is not null) ? Kind.List : Kind.Object;
    }

    private static Type ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType()!;
        }

        var dictionary = Generic(type, typeof(IDictionary<,>));
        return dictionary is not null ? dictionary.GetGenericArguments()[1] : Generic(type, typeof(IEnumerable<>))!.GetGenericArguments()[0];
    }

    private static Type? Generic(Type type, Type definition) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == definition
            ? type
            : type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == definition);

    private static string Relative(string parent, string key) => parent.Length == 0 ? key : parent + ":" + key;

    private static string Join(string root, string relative) => root.Length == 0 ? relative : root + ":" + relative;

    private static string Env(string path) => path.Replace(":", "__", StringComparison.Ordinal);

    private static bool IsAtOrUnder(string key, string problem) =>
        key.Equals(problem, StringComparison.OrdinalIgnoreCase)
        || (key.Length > problem.Length && key[problem.Length] == ':' && key.StartsWith(problem, StringComparison.OrdinalIgnoreCase));

    private enum Kind
    {
        Scalar,
        List,
        Dictionary,
        Object,
    }

    private sealed record Setting(string Path, string Parent, string Name);
}
