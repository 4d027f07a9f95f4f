namespace Matomo.Rpc.Internal;

/// <summary>What a hit's URL is made of (scheme and host, or the configured base URL, then the path): a cache key.</summary>
internal readonly record struct UrlKey(string Origin, string Host, string Path)
{
    public int Length => Origin.Length + Host.Length + Path.Length;
}
