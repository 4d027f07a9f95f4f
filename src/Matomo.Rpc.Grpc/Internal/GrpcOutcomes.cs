using Grpc.Core;

namespace Matomo.Rpc.Grpc.Internal;

/// <summary>The outcome of each gRPC status code, built once so that ending a call formats nothing.</summary>
internal static class GrpcOutcomes
{
    private static readonly MatomoOutcome[] Outcomes = Create();

    public static MatomoOutcome For(StatusCode code)
    {
        var index = (int)code;
        return (uint)index < (uint)Outcomes.Length ? Outcomes[index] : new MatomoOutcome(code.ToString(), index, IsError: true);
    }

    private static MatomoOutcome[] Create()
    {
        // StatusCode runs from OK (0) to Unauthenticated (16) without gaps.
        var outcomes = new MatomoOutcome[(int)StatusCode.Unauthenticated + 1];
        for (var i = 0; i < outcomes.Length; i++)
        {
            var code = (StatusCode)i;
            outcomes[i] = new MatomoOutcome(code.ToString(), i, IsError: code != StatusCode.OK);
        }

        return outcomes;
    }
}
