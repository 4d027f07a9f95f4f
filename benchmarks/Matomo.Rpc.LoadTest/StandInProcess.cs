using System.Globalization;
using Matomo.Rpc.TestSupport;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// The child process side: a <see cref="MatomoStandIn"/> driven by one-line commands on stdin, each answered by one
/// line on stdout. Ends when stdin closes (the load test ended or died).
/// </summary>
internal static class StandInProcess
{
    public static async Task RunAsync()
    {
        await using var matomo = await MatomoStandIn.StartAsync();
        await using var counting = await CountingMatomo.StartAsync();
        Console.Out.WriteLine("ready " + matomo.TrackerUrl + " " + counting.TrackerUrl);
        Console.Out.Flush();
        string? line;
        while ((line = await Console.In.ReadLineAsync()) is not null)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string answer;
            switch (parts.FirstOrDefault())
            {
                case "latency":
                    matomo.Latency = TimeSpan.FromMilliseconds(int.Parse(parts[1], CultureInfo.InvariantCulture));
                    answer = "ok";
                    break;
                case "stop":
                    await matomo.StopAsync();
                    answer = "ok";
                    break;
                case "restart":
                    await matomo.RestartAsync();
                    answer = "ok";
                    break;
                case "count":
                    // Hits stored and tracking requests answered since the last clear; then forgets them (memory).
                    var (countedHits, countedRequests) = counting.TakeCounts();
                    var hits = matomo.Hits.Count + countedHits;
                    var requests = matomo.Requests.Count + countedRequests;
                    matomo.Clear();
                    GC.Collect();
                    answer = counting.Disagreement is { } disagreement
                        ? "error " + disagreement
                        : string.Create(CultureInfo.InvariantCulture, $"{hits} {requests} {counting.SlowBodies}");
                    break;
                default:
                    answer = "error unknown command";
                    break;
            }

            Console.Out.WriteLine(answer);
            Console.Out.Flush();
        }
    }
}
