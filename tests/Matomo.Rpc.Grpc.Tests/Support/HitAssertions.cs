using System.Text.Json;

namespace Matomo.Rpc.Grpc.Tests.Support;

public static class HitAssertions
{
    /// <summary>The hit's <c>cvar</c> as "name=value" in slot order (checks the shape Matomo stores on the way).</summary>
    public static string[] CustomVariables(IReadOnlyDictionary<string, string> parameters)
    {
        if (!parameters.TryGetValue("cvar", out var cvar))
        {
            return [];
        }

        using var json = JsonDocument.Parse(cvar);
        var result = new List<string>();
        var slot = 1;
        foreach (var property in json.RootElement.EnumerateObject())
        {
            Assert.That(property.Name, Is.EqualTo(slot.ToString(System.Globalization.CultureInfo.InvariantCulture)), "cvar slots are numbered from 1");
            Assert.That(property.Value.GetArrayLength(), Is.EqualTo(2), "each cvar is [name, value]");
            result.Add(property.Value[0].GetString() + "=" + property.Value[1].GetString());
            slot++;
        }

        return [.. result];
    }

    public static string[] CustomVariables(this MatomoRecordedHit hit) => CustomVariables(hit.Parameters);
}
