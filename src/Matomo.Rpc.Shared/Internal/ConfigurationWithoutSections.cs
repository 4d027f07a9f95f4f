using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace Matomo.Rpc.Internal;

/// <summary>
/// A view of a configuration section without some of its child sections: the core binds <c>Matomo</c> strictly
/// (unknown keys fail the start), and leaves the sub-sections that adapters bind themselves (<c>Matomo:Http</c>) out
/// of that check. It keeps the section's key and path, so that messages name <c>Matomo:...</c>; reads go to the live
/// configuration, so reloads and later sources are seen.
/// </summary>
internal sealed class ConfigurationWithoutSections : IConfigurationSection
{
    private readonly IConfiguration _inner;
    private readonly string[] _hidden;

    public ConfigurationWithoutSections(IConfiguration inner, string[] hidden)
    {
        _inner = inner;
        _hidden = hidden;
    }

    public string Key => (_inner as IConfigurationSection)?.Key ?? string.Empty;

    public string Path => (_inner as IConfigurationSection)?.Path ?? string.Empty;

    public string? Value
    {
        get => (_inner as IConfigurationSection)?.Value;
        set
        {
            if (_inner is IConfigurationSection section)
            {
                section.Value = value;
            }
        }
    }

    public string? this[string key]
    {
        get => _inner[key];
        set => _inner[key] = value;
    }

    public IEnumerable<IConfigurationSection> GetChildren() =>
        _inner.GetChildren().Where(child => !_hidden.Contains(child.Key, StringComparer.OrdinalIgnoreCase));

    public IChangeToken GetReloadToken() => _inner.GetReloadToken();

    public IConfigurationSection GetSection(string key) => _inner.GetSection(key);
}
