namespace Matomo.Rpc.LoadTest;

internal enum Mode
{
    /// <summary>No tracking.</summary>
    Baseline = 1,

    /// <summary>MatomoInterceptor sending to the Matomo stand-in.</summary>
    Matomo = 2,

    /// <summary>MatomoInterceptor, the stand-in answering after 200 ms.</summary>
    MatomoSlow = 3,

    /// <summary>MatomoInterceptor, the stand-in down (connection refused).</summary>
    MatomoDown = 4,

    /// <summary>The seed's design: one awaited HTTP POST per call, inside the call (to the stand-in at 200 ms).</summary>
    NaivePerCallPost = 5,

    /// <summary>OpenTelemetry's ASP.NET Core instrumentation with an in-memory exporter, no Matomo.</summary>
    OpenTelemetry = 6,

    /// <summary>MatomoInterceptor sending to a bulk endpoint that only counts (Matomo's own cost off the box).</summary>
    MatomoCounting = 7,

    /// <summary>MatomoInterceptor, the stand-in down, the spool on (a fresh temporary directory): mode 4 plus the disk.</summary>
    MatomoDownSpool = 8,

    /// <summary>
    /// Decomposition of mode 7: MatomoInterceptor with a queue of one hit that the sender never finishes sending, so every
    /// other hit is dropped at the queue (counted): the call path alone (scope, hit, queue attempt), no encoding, no HTTP.
    /// </summary>
    MatomoDroppedAtQueue = 9,

    /// <summary>
    /// Decomposition of mode 7: MatomoInterceptor, the sender encoding every hit into its batch as in mode 7, the batch
    /// then handed to a writer that only counts it (no HTTP): the call path, the queue, the sender's loop and encoding.
    /// </summary>
    MatomoEncodedNotSent = 10,

    /// <summary>Mode 7 with batches of 1,000 hits (the most Matomo:Sending:BatchSize allows) instead of 100: what the per-request cost is.</summary>
    MatomoCountingLargeBatches = 11,

    /// <summary>
    /// Decomposition of mode 9: an interceptor that does nothing but call on, registered as MatomoInterceptor is (a
    /// singleton): what grpc-dotnet's interceptor pipeline costs per call before any tracking.
    /// </summary>
    EmptyInterceptor = 12,
}

internal static class ModeNames
{
    public static string Describe(this Mode mode) => mode switch
    {
        Mode.Baseline => "1 no tracking (baseline)",
        Mode.Matomo => "2 Matomo.Rpc -> stand-in",
        Mode.MatomoSlow => "3 Matomo.Rpc -> stand-in at 200 ms",
        Mode.MatomoDown => "4 Matomo.Rpc -> stand-in down",
        Mode.NaivePerCallPost => "5 naive: awaited POST per call (200 ms)",
        Mode.OpenTelemetry => "6 OpenTelemetry ASP.NET Core, in-memory exporter",
        Mode.MatomoCounting => "7 Matomo.Rpc -> counting endpoint",
        Mode.MatomoDownSpool => "8 Matomo.Rpc -> stand-in down, spool on",
        Mode.MatomoDroppedAtQueue => "9 Matomo.Rpc, every hit dropped at the queue (call path only)",
        Mode.MatomoEncodedNotSent => "10 Matomo.Rpc, hits encoded, not sent (no HTTP)",
        Mode.MatomoCountingLargeBatches => "11 Matomo.Rpc -> counting endpoint, batches of 1000",
        Mode.EmptyInterceptor => "12 an empty interceptor (grpc-dotnet's pipeline alone)",
        _ => mode.ToString(),
    };

    public static bool IsDecomposition(this Mode mode) => mode is Mode.MatomoDroppedAtQueue or Mode.MatomoEncodedNotSent or Mode.MatomoCountingLargeBatches
        or Mode.EmptyInterceptor;

    public static bool UsesMatomoRpc(this Mode mode) => mode is Mode.Matomo or Mode.MatomoSlow or Mode.MatomoDown or Mode.MatomoCounting or Mode.MatomoDownSpool
        or Mode.MatomoDroppedAtQueue or Mode.MatomoEncodedNotSent or Mode.MatomoCountingLargeBatches;
}
