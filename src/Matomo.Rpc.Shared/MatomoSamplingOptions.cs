namespace Matomo.Rpc;

/// <summary>
/// Sampling on purpose: track a known fraction of the calls, decided when each call starts, instead of whatever part of
/// them Matomo happens to keep up with. Hits of sampled calls carry the rate they were sampled at (the <c>sample</c>
/// field), so reports can be scaled back; with <see cref="KeepErrors"/> on, every failed call is tracked.
/// </summary>
public class MatomoSamplingOptions
{
    /// <summary>
    /// Fraction of calls tracked, from 0 to 1 (0.25: one call in four, chosen at random per call). Default 1 (every call).
    /// </summary>
    public double Rate { get; set; } = 1;

    /// <summary>
    /// Tracks every call whose outcome is an error (any gRPC status but OK, a SignalR error or cancellation, an HTTP error),
    /// sampled or not. Default true. A call left out by sampling then still keeps a small scope until it ends, to see its outcome.
    /// </summary>
    public bool KeepErrors { get; set; } = true;

    /// <summary>
    /// Rates per action that replace <see cref="Rate"/>: the key is an action name, compared exactly as in
    /// <see cref="MatomoOptions.ActionDetails"/> (e.g. <c>greet.Greeter/SayHello</c>, a leading '/' is ignored), or a prefix
    /// ending in '*' (e.g. <c>greet.Greeter/*</c>, or <c>ChatHub/*</c>); an exact name wins over a prefix, a longer prefix
    /// over a shorter one. The value is the rate, from 0 to 1.
    /// </summary>
    public Dictionary<string, double> Actions { get; set; } = new(StringComparer.Ordinal);
}
