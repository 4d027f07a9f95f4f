using System.Globalization;
using Matomo.Rpc.Internal.Spool;

namespace Matomo.Rpc.Shared.Tests.Spool;

/// <summary>Hits shaped like the encoder's output, distinct by index.</summary>
internal static class SpoolHits
{
    public static readonly DateTimeOffset Start = new(2026, 11, 30, 5, 0, 0, TimeSpan.Zero);

    public static SpooledHit Hit(int i)
    {
        var time = Start.AddTicks(i * 1_234_567L);
        var visitor = (i % 7).ToString("x16", CultureInfo.InvariantCulture);
        var query = "?idsite=1&rec=1&apiv=1&bots=1&send_image=0&action_name=greet.Greeter%2FSayHello"
            + "&url=https%3A%2F%2Fapi.example.org%2Fgreet.Greeter%2FSayHello&ua=grpc-dotnet%2F2.80.0&lang=en-US"
            + "&_id=" + visitor + "&cdt=" + time.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)
            + "&cvar=%7B%221%22%3A%5B%22outcome%22%2C%22OK%22%5D%2C%222%22%3A%5B%22kind%22%2C%22unary%22%5D%7D"
            + "&pf_srv=" + (i % 97).ToString(CultureInfo.InvariantCulture) + "&gt_ms=" + (i % 97).ToString(CultureInfo.InvariantCulture)
            + "&rand=" + i.ToString(CultureInfo.InvariantCulture);
        return new SpooledHit(query, time, visitor, "greet.Greeter/SayHello", Isolated: i % 50 == 49);
    }

    public static SpooledHit[] Range(int start, int count) => [.. Enumerable.Range(start, count).Select(Hit)];
}
