using System.Globalization;
using System.Runtime.InteropServices;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Matomo.Rpc.TestSupport.Reliability;

namespace Matomo.Rpc.Grpc.Tests.Reliability;

/// <summary>
/// Plays the service code of the reliability tests without touching the shared <c>TestGreeter</c>: registered after
/// <see cref="MatomoInterceptor"/>, it runs inside the tracked call and uses the per-call API with values read from the
/// request, as a service would. <c>x-caller</c> and <c>x-seq</c> become custom variables, <c>x-var-NAME</c> sets the
/// parameter NAME, and <c>x-hostile-seed</c> (with the raw bytes of <c>x-hostile-bin</c>) feeds hostile values.
/// </summary>
public sealed class ServiceCodeInterceptor(ServiceCodeRefusals refusals) : Interceptor
{
    public const string Caller = "x-caller";
    public const string Sequence = "x-seq";
    public const string VarPrefix = "x-var-";
    public const string HostileSeed = "x-hostile-seed";
    public const string HostileBytes = "x-hostile-bin";

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        byte[]? hostileBytes = null;
        foreach (var entry in context.RequestHeaders)
        {
            if (entry.IsBinary)
            {
                if (entry.Key == HostileBytes)
                {
                    hostileBytes = entry.ValueBytes;
                }

                continue;
            }

            switch (entry.Key)
            {
                case Caller:
                    context.AddMatomoCustomVariable("caller", entry.Value);
                    break;
                case Sequence:
                    context.AddMatomoCustomVariable("seq", entry.Value);
                    break;
                case HostileSeed:
                    ApplyHostileValues(context, int.Parse(entry.Value, CultureInfo.InvariantCulture), hostileBytes ?? context.RequestHeaders.GetValueBytes(HostileBytes));
                    break;
                default:
                    if (entry.Key.StartsWith(VarPrefix, StringComparison.Ordinal))
                    {
                        try
                        {
                            context.SetMatomoVar(entry.Key[VarPrefix.Length..], entry.Value);
                        }
                        catch (ArgumentException ex)
                        {
                            refusals.Add(ex);
                        }
                    }

                    break;
            }
        }

        return continuation(request, context);
    }

    /// <summary>What a careless service might do with what a caller sent; it catches the ArgumentException the API documents.</summary>
    private static void ApplyHostileValues(ServerCallContext context, int seed, byte[]? raw)
    {
        var text = new HostileText(seed);

        // The caller's raw bytes read as UTF-16: lone surrogates and control characters straight from the wire.
        var fromWire = raw is { Length: > 1 } ? new string(MemoryMarshal.Cast<byte, char>(raw.AsSpan(0, raw.Length & ~1))) : "\uD800";
        string[] names = ["action_name", "url", "urlref", "ua", "lang", "e_c", "e_a", "e_n", "dimension1", "dimension2", "uid", "search",
            "idsite", "rec", "apiv", "token_auth", "cip", "cdt", "send_image", "rand", "cvar", "_cvar", "ca", "cid", "_id", "pf_srv",
            "pf_dm1", "new_visit", "", " ", "na&me", "na=me", "dimension\uD800", new string('d', 65), "\0", "h", "m", "s"];
        foreach (var name in names)
        {
            Try(() => context.SetMatomoVar(name, text.Text()));
            Try(() => context.SetMatomoVar(name, fromWire));
            Try(() => context.AddMatomoCustomVariable(name, text.Text()));
        }

        Try(() => context.SetMatomoVar("action_name", HostileText.Megabyte));
        Try(() => context.SetMatomoVar("url", HostileText.Megabyte));
        Try(() => context.SetMatomoVar("urlref", HostileText.Megabyte));
        Try(() => context.SetMatomoVar("action_name", "greet.Greeter/" + new string('M', 5000) + fromWire));
        Try(() => context.AddMatomoCustomVariable(text.Text(), text.Text()));
        Try(() => context.AddMatomoCustomVariable(fromWire, fromWire));
        Try(() => context.AddMatomoCustomVariable(HostileText.Megabyte, HostileText.Megabyte));

        // Thousands of variables.
        var many = text.Next(8) == 0 ? 3000 : 50;
        for (var i = 0; i < many; i++)
        {
            var index = i.ToString(CultureInfo.InvariantCulture);
            Try(() => context.SetMatomoVar("dimension" + index, text.Next(100) == 0 ? text.Text() : index));
            Try(() => context.AddMatomoCustomVariable("v" + index, index));
        }

        Try(() => context.MeasureMatomoPerf("pf_dm2").Dispose());
        Try(() => context.MeasureMatomoPerf(fromWire).Dispose());
    }

    private static void Try(Action action)
    {
        try
        {
            action();
        }
        catch (ArgumentException)
        {
            // Reserved or invalid names are refused by design: the service catches it, as a user would.
        }
    }
}
