using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>
/// The outcome of a gRPC call the HTTP adapter tracks (grpc-dotnet's answer to an unimplemented method or service),
/// recorded as the gRPC adapter records statuses: the status code's name and number, an error unless it is OK
/// (<c>Unimplemented (12)</c>). Names are gRPC's own (Grpc.Core's StatusCode), kept here so that the adapter does not
/// depend on gRPC; the outcomes are built once.
/// </summary>
internal static class GrpcStatusOutcomes
{
    public const int Cancelled = 1;
    public const int Unknown = 2;
    public const int Unimplemented = 12;

    private const string StatusHeader = "grpc-status";

    private static readonly string[] Names =
    [
        "OK", "Cancelled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
        "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
        "Internal", "Unavailable", "DataLoss", "Unauthenticated",
    ];

    private static readonly MatomoOutcome[] Outcomes = [.. Names.Select((name, code) => new MatomoOutcome(name, code, IsError: code != 0))];

    /// <summary>The outcome of status <paramref name="code"/>; a code gRPC does not define is its number, an error.</summary>
    public static MatomoOutcome For(int code) =>
        (uint)code < (uint)Outcomes.Length
            ? Outcomes[code]
            : new MatomoOutcome(code.ToString(CultureInfo.InvariantCulture), code, IsError: true);

    /// <summary>
    /// The status the client got: <c>Cancelled</c> when it aborted the call before the pipeline ended; else the
    /// <c>grpc-status</c> of the response's headers (a trailers-only answer, as grpc-dotnet gives to unimplemented
    /// methods) or trailers; without one, the status a gRPC client makes of the HTTP status (gRPC's HTTP to gRPC
    /// status mapping: 400 Internal, 401 Unauthenticated, 403 PermissionDenied, 404 Unimplemented, 429, 502, 503 and
    /// 504 Unavailable, anything else Unknown).
    /// </summary>
    public static MatomoOutcome Of(HttpContext context, bool aborted, int httpStatus)
    {
        if (aborted)
        {
            return Outcomes[Cancelled];
        }

        var sent = Parse(context.Response.Headers[StatusHeader])
            ?? (context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers is { } trailers ? Parse(trailers[StatusHeader]) : null);
        if (sent is { } code)
        {
            return For(code);
        }

        return For(httpStatus switch
        {
            StatusCodes.Status400BadRequest => 13,
            StatusCodes.Status401Unauthorized => 16,
            StatusCodes.Status403Forbidden => 7,
            StatusCodes.Status404NotFound => Unimplemented,
            StatusCodes.Status429TooManyRequests or StatusCodes.Status502BadGateway or StatusCodes.Status503ServiceUnavailable or StatusCodes.Status504GatewayTimeout => 14,
            _ => Unknown,
        });
    }

    /// <summary>
    /// The status a client of a JSON transcoding route got: <c>Cancelled</c> when it aborted the call before the pipeline
    /// ended; else the <c>grpc-status</c> the response carries, if any; else the status JSON transcoding answers as
    /// <paramref name="httpStatus"/> (its JSON body's <c>code</c>): transcoding maps each status to an HTTP status, read
    /// back here; where several share one, the one a call failed before its handler gets (400 <c>InvalidArgument</c>:
    /// a body or content type it cannot read; 500 <c>Unknown</c>: any other exception).
    /// </summary>
    public static MatomoOutcome OfJsonTranscoded(HttpContext context, bool aborted, int httpStatus)
    {
        if (aborted)
        {
            return Outcomes[Cancelled];
        }

        if (Parse(context.Response.Headers[StatusHeader]) is { } sent)
        {
            return For(sent);
        }

        return For(httpStatus switch
        {
            StatusCodes.Status200OK => 0,
            StatusCodes.Status400BadRequest => 3,
            StatusCodes.Status401Unauthorized => 16,
            StatusCodes.Status403Forbidden => 7,
            StatusCodes.Status404NotFound => 5,
            StatusCodes.Status408RequestTimeout => Cancelled,
            StatusCodes.Status409Conflict => 10,
            StatusCodes.Status429TooManyRequests => 8,
            StatusCodes.Status501NotImplemented => Unimplemented,
            StatusCodes.Status503ServiceUnavailable => 14,
            StatusCodes.Status504GatewayTimeout => 4,
            _ => Unknown,
        });
    }

    private static int? Parse(StringValues values) =>
        values.Count == 1 && int.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out var code) ? code : null;
}
