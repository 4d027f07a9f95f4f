namespace Matomo.Rpc;

/// <summary>
/// The custom dimension ID (the N of <c>dimensionN</c>, shown as ID in Matomo under Administration > Websites >
/// Custom Dimensions) of each built-in field; unset fields are not sent as dimensions. The dimensions must have the action scope.
/// </summary>
public class MatomoDimensionOptions
{
    /// <summary>The outcome, e.g. <c>OK (0)</c>, <c>NotFound (5)</c>, <c>error</c>.</summary>
    public int? Outcome { get; set; }

    /// <summary>The call kind, e.g. <c>unary</c>, <c>hub_invocation</c>.</summary>
    public int? CallKind { get; set; }

    /// <summary>Messages received and sent by a streaming call, e.g. <c>in=3 out=1</c>.</summary>
    public int? Messages { get; set; }

    /// <summary>The type name of the exception a call failed with.</summary>
    public int? Error { get; set; }

    /// <summary>The SignalR transport (WebSockets, ServerSentEvents, LongPolling).</summary>
    public int? Transport { get; set; }

    /// <summary>The rate a sampled call was tracked at, e.g. <c>0.25</c>; sent only when it is below 1 (see <see cref="MatomoOptions.Sampling"/>).</summary>
    public int? SampleRate { get; set; }
}
