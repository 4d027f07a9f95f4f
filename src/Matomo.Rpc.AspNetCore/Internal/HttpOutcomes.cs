using System.Globalization;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>
/// The outcome of each HTTP status code, built once so that ending a request formats nothing. Recorded as the status
/// code alone (<c>status: 404</c>); an error is a server error (5xx) or a request the client aborted (499).
/// </summary>
internal static class HttpOutcomes
{
    /// <summary>The status recorded for a request the client aborted before the response was complete (nginx's convention).</summary>
    public const int ClientClosedRequest = 499;

    private const int First = 100;
    private static readonly MatomoOutcome[] Outcomes = Create();

    public static MatomoOutcome For(int status)
    {
        var index = status - First;
        return (uint)index < (uint)Outcomes.Length ? Outcomes[index] : Create(status);
    }

    private static MatomoOutcome[] Create()
    {
        var outcomes = new MatomoOutcome[600 - First];
        for (var i = 0; i < outcomes.Length; i++)
        {
            outcomes[i] = Create(First + i);
        }

        return outcomes;
    }

    private static MatomoOutcome Create(int status) =>
        new(status.ToString(CultureInfo.InvariantCulture), null, IsError: status >= 500 || status == ClientClosedRequest);
}
