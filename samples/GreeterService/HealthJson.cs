using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace GreeterService;

/// <summary>
/// Writes a health report as JSON: the overall status, and for each check its status, description and data (for Matomo:
/// the totals, the hits held, since when and why sends fail).
/// </summary>
public static class HealthJson
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        context.Response.ContentType = "application/json; charset=utf-8";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new { status = e.Value.Status.ToString(), description = e.Value.Description, data = e.Value.Data }),
        };
        return JsonSerializer.SerializeAsync(context.Response.Body, body, Options, context.RequestAborted);
    }
}
