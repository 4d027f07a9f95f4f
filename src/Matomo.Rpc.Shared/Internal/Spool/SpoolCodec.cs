namespace Matomo.Rpc.Internal.Spool;

/// <summary>How the records of a spool file are stored (a byte of the file header).</summary>
internal enum SpoolCodec : byte
{
    /// <summary>As they are.</summary>
    None = 0,

    /// <summary>Brotli at its fastest quality: query strings of one service repeat a lot, so a hit takes a fraction of its size.</summary>
    Brotli = 1,
}
