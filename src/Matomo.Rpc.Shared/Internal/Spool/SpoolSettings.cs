namespace Matomo.Rpc.Internal.Spool;

/// <summary>The spool's settings, resolved: an absolute directory.</summary>
/// <param name="Directory">The absolute path of the spool directory.</param>
/// <param name="MaxBytes">Most bytes the batch files may take.</param>
/// <param name="Codec">How records are stored (Brotli unless a benchmark compares).</param>
internal sealed record SpoolSettings(string Directory, long MaxBytes, SpoolCodec Codec = SpoolCodec.Brotli)
{
    /// <summary>
    /// The settings for <paramref name="options"/>, or null when the spool is off. A relative directory is resolved
    /// against <paramref name="contentRoot"/> (the host's content root), or the current directory without one.
    /// </summary>
    public static SpoolSettings? From(MatomoSpoolOptions options, string? contentRoot)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Directory))
        {
            return null;
        }

        var root = string.IsNullOrEmpty(contentRoot) ? System.IO.Directory.GetCurrentDirectory() : Path.GetFullPath(contentRoot);
        return new SpoolSettings(Path.GetFullPath(options.Directory.Trim(), root), options.MaxBytes);
    }
}
