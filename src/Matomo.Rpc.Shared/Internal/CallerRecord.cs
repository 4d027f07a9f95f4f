namespace Matomo.Rpc.Internal;

/// <summary>
/// A caller as the scopes of its calls hold it: one immutable object shared by every call of the same caller (see
/// <see cref="CallerRecords"/>), so a call's scope holds one reference instead of the caller's nine fields.
/// </summary>
internal sealed class CallerRecord
{
    public CallerRecord(in MatomoCallerInfo info)
    {
        Info = info;
    }

    /// <summary>The caller, as read from its request (never opted out: an opted-out call has no scope).</summary>
    public MatomoCallerInfo Info { get; }
}
