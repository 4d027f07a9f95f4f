using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>
/// The tracked call of the hub invocation (or connect / disconnect) running on the current async flow.
/// <see cref="HubCallerContext"/> is per connection, so the call is found through an <see cref="AsyncLocal{T}"/>
/// set by the filter around the invocation, and checked against the connection.
/// </summary>
internal sealed class InvocationScope
{
    private static readonly AsyncLocal<InvocationScope?> CurrentScope = new();

    public InvocationScope(HubCallerContext context, MatomoCallScope scope)
    {
        Context = context;
        Scope = scope;
    }

    public static InvocationScope? Current
    {
        get => CurrentScope.Value;
        set => CurrentScope.Value = value;
    }

    public HubCallerContext Context { get; }

    public MatomoCallScope Scope { get; }

    public bool BelongsTo(HubCallerContext context) =>
        ReferenceEquals(Context, context) || string.Equals(Context.ConnectionId, context.ConnectionId, StringComparison.Ordinal);
}
