namespace Matomo.Rpc.Internal.Spool;

/// <summary>What became of hits given to <see cref="SpoolStore.Write(SpoolRecords, int, int)"/>.</summary>
internal enum SpoolWriteResult
{
    /// <summary>On disk (fsynced and renamed): the spool now owns them.</summary>
    Written,

    /// <summary>
    /// Not kept: they did not fit in <c>Matomo:Spool:MaxBytes</c> even after the oldest files were dropped. The store
    /// counted them as dropped (reason <c>spool_full</c>); the caller must not count them again.
    /// </summary>
    Full,

    /// <summary>
    /// Not kept: the spool is off or unusable (already logged once). The caller still owns the hits and handles them
    /// as it would without a spool.
    /// </summary>
    Disabled,
}
