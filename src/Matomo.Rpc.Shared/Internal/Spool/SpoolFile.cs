namespace Matomo.Rpc.Internal.Spool;

/// <summary>One batch file waiting in the spool.</summary>
/// <param name="Sequence">Its place in the spool: a lower sequence was written earlier (also by an earlier process).</param>
/// <param name="Path">Its full path.</param>
/// <param name="Bytes">Its size on disk.</param>
/// <param name="Hits">The hits its header declares.</param>
internal readonly record struct SpoolFile(long Sequence, string Path, long Bytes, int Hits);
