namespace Matomo.Rpc.Internal;

internal static class TextSanitizer
{
    /// <summary>Cuts <paramref name="value"/> to <paramref name="max"/> UTF-16 units without splitting a surrogate pair.</summary>
    public static string Clip(string value, int max) => value.Length <= max ? value : Clip(value.AsSpan(), max).ToString();

    /// <summary><see cref="Clip(string, int)"/> for a span (no string cut out of it).</summary>
    public static ReadOnlySpan<char> Clip(ReadOnlySpan<char> value, int max)
    {
        if (value.Length <= max)
        {
            return value;
        }

        var end = max;
        if (char.IsHighSurrogate(value[end - 1]) && char.IsLowSurrogate(value[end]))
        {
            end--;
        }

        return value[..end];
    }

    /// <summary>Trims and clips a value for a custom dimension, as Matomo would.</summary>
    public static string ForDimension(string value) => Clip(value.Trim(), Limits.Dimension);
}
