using Grpc.Core;

namespace Matomo.Rpc.Grpc;

/// <summary>
/// The per-call Matomo API for gRPC service code: set Tracking API parameters, add custom variables, time blocks and
/// skip tracking, for the current call only. The call's tracking scope is kept in <see cref="ServerCallContext.UserState"/> by
/// <see cref="MatomoInterceptor"/>; on a call that is not tracked (excluded, skipped, or no interceptor) these methods
/// do nothing, but they refuse the same invalid names as on a tracked call, so a mistake shows up in every environment.
/// </summary>
/// <example>
/// <code>
/// public override async Task&lt;HelloReply&gt; SayHello(HelloRequest request, ServerCallContext context)
/// {
///     context.SetMatomoVar("dimension3", request.Name.Length.ToString(CultureInfo.InvariantCulture));
///     context.AddMatomoCustomVariable("tenant", tenantId);
///     using (context.MeasureMatomoPerf("pf_dm1"))
///     {
///         await LoadGreetingAsync(request.Name);
///     }
///
///     return new HelloReply { Message = "Hello " + request.Name };
/// }
/// </code>
/// </example>
public static class MatomoServerCallContextExtensions
{
    private static readonly object ScopeKey = new();

    /// <summary>
    /// Sets a Matomo Tracking API parameter for this call only, e.g. <c>e_c</c>, <c>dimension3</c>, <c>action_name</c>
    /// or <c>uid</c>; it wins over the action's configured details. A later value for the same name replaces the earlier
    /// one; a null value removes it.
    /// </summary>
    /// <example>
    /// <code>
    /// context.SetMatomoVar("action_name", "Orders/Create");
    /// context.SetMatomoVar("dimension2", order.Country);
    /// </code>
    /// </example>
    /// <param name="context">The call's context.</param>
    /// <param name="name">The Tracking API parameter name.</param>
    /// <param name="value">The value, or null to remove a value set earlier.</param>
    /// <exception cref="ArgumentException">
    /// The name is not letters, digits, <c>_</c> and <c>-</c> (Matomo would read a '.' or '[' in it as another name), or is one the tracker owns (<c>idsite</c>, <c>rec</c>, <c>apiv</c>, <c>token_auth</c>, <c>cip</c>,
    /// <c>cdt</c>, <c>send_image</c>, <c>rand</c>) or one that would make Matomo drop the hit (<c>cvar</c>, <c>ca</c>),
    /// or the value is one Matomo refuses for that name; thrown on untracked calls too.
    /// </exception>
    public static void SetMatomoVar(this ServerCallContext context, string name, string? value)
    {
        ArgumentNullException.ThrowIfNull(context);
        (context.GetMatomoCall() ?? MatomoCall.Untracked).SetVar(name, value);
    }

    /// <summary>
    /// Adds an action-scoped custom variable for this call, sent in <c>cvar</c> after the built-in ones (status, kind,
    /// messages, error) in the slots left. A later value for the same name replaces the earlier one.
    /// </summary>
    /// <example>
    /// <code>
    /// context.AddMatomoCustomVariable("plan", customer.Plan);
    /// </code>
    /// </example>
    /// <param name="context">The call's context.</param>
    /// <param name="name">The custom variable's name.</param>
    /// <param name="value">Its value (null records an empty value).</param>
    /// <exception cref="ArgumentException">The name is empty or white space; thrown on untracked calls too.</exception>
    public static void AddMatomoCustomVariable(this ServerCallContext context, string name, string? value)
    {
        ArgumentNullException.ThrowIfNull(context);
        (context.GetMatomoCall() ?? MatomoCall.Untracked).AddCustomVariable(name, value);
    }

    /// <summary>
    /// Starts timing a block into the <c>pf_*</c> parameter <paramref name="name"/> of this call, in whole milliseconds;
    /// dispose the result to stop the timer. On an untracked call the timer records nothing.
    /// </summary>
    /// <example>
    /// <code>
    /// using (context.MeasureMatomoPerf("pf_dm1"))
    /// {
    ///     rows = await repository.LoadAsync(request.Id, context.CancellationToken);
    /// }
    /// </code>
    /// </example>
    /// <param name="context">The call's context.</param>
    /// <param name="name">A performance parameter: <c>pf_srv</c> (the default, which replaces the measured call duration), <c>pf_net</c>, <c>pf_tfr</c>, <c>pf_dm1</c>, <c>pf_dm2</c> or <c>pf_onl</c>.</param>
    /// <returns>The timer; dispose it to record the elapsed time.</returns>
    /// <exception cref="ArgumentException">The name is not a <c>pf_*</c> parameter; thrown on untracked calls too.</exception>
    public static MatomoPerfTimer MeasureMatomoPerf(this ServerCallContext context, string name = "pf_srv")
    {
        ArgumentNullException.ThrowIfNull(context);
        return (context.GetMatomoCall() ?? MatomoCall.Untracked).MeasurePerf(name);
    }

    /// <summary>Skips tracking of this call: no hit is sent for it, however it ends.</summary>
    /// <example>
    /// <code>
    /// if (request.IsWarmUp)
    /// {
    ///     context.SkipMatomoTracking();
    /// }
    /// </code>
    /// </example>
    /// <param name="context">The call's context.</param>
    public static void SkipMatomoTracking(this ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.GetMatomoCall()?.Skip();
    }

    /// <summary>
    /// Returns what service code may do with this call in Matomo, or null when the call is not tracked (excluded, or no
    /// <see cref="MatomoInterceptor"/> runs for it).
    /// </summary>
    /// <example>
    /// <code>
    /// if (context.GetMatomoCall() is { } call)
    /// {
    ///     call.SetPerf("pf_dm2", cacheLookupTime);
    /// }
    /// </code>
    /// </example>
    /// <param name="context">The call's context.</param>
    /// <returns>The call, or null.</returns>
    public static MatomoCall? GetMatomoCall(this ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Find(context)?.Call;
    }

    /// <summary>
    /// Stores <paramref name="scope"/> as this call's scope; false when the call already has one. On ASP.NET Core the
    /// scope is a feature of the call's request, whose storage Kestrel reuses from stream to stream: grpc-dotnet creates a
    /// call's <see cref="ServerCallContext.UserState"/> dictionary on first use (about 200 bytes per call), which the
    /// interceptor leaves alone for service code. Its key is the core's <see cref="MatomoCallScope"/> type, so that the HTTP
    /// adapter (<c>UseMatomoTracking</c>), which knows nothing of gRPC, sees that the interceptor tracks the call.
    /// Other hosts (unit tests' contexts) keep it in <c>UserState</c>.
    /// </summary>
    internal static bool TryAttach(ServerCallContext context, MatomoCallScope scope)
    {
        if (context.GetType() == MatomoInterceptor.AspNetCoreCallContext)
        {
            var features = context.GetHttpContext().Features;
            if (features[typeof(MatomoCallScope)] is not null)
            {
                return false;
            }

            features[typeof(MatomoCallScope)] = scope;
            return true;
        }

        return context.UserState.TryAdd(ScopeKey, scope);
    }

    internal static MatomoCallScope? Find(ServerCallContext context)
    {
        if (context.GetType() == MatomoInterceptor.AspNetCoreCallContext)
        {
            return context.GetHttpContext().Features[typeof(MatomoCallScope)] as MatomoCallScope;
        }

        return context.UserState.TryGetValue(ScopeKey, out var value) ? value as MatomoCallScope : null;
    }
}
