using System.Text;
using System.Text.Json;
using Matomo.Rpc.Internal;

namespace Matomo.Rpc.Shared.Tests.Oracle;

/// <summary>
/// The bulk answer read with a reader (<see cref="HttpBulkWriter.TryReadBulkAnswer"/>, nothing allocated) against the
/// simple way it was read before, a <see cref="JsonDocument"/>: the same verdict and counts for every answer.
/// </summary>
public class BulkAnswerReaderOracleTests
{
    private static readonly string[] Answers =
    [
        """{"status":"success","tracked":100,"invalid":0}""",
        """{"status":"success","tracked":98,"invalid":2,"invalid_indices":[4,17]}""",
        """{"status":"success","tracked":3}""",
        """{"tracked":1,"invalid":"x"}""",
        """{"tracked":"1","invalid":0}""",
        """{"tracked":1.5,"invalid":0}""",
        """{"tracked":1e2,"invalid":0}""",
        """{"tracked":-1,"invalid":-2}""",
        """{"tracked":99999999999,"invalid":0}""",
        """{"tracked":1,"tracked":2,"invalid":1,"invalid":3}""",
        """{"tracked":1,"tracked":"two"}""",
        """{"tracked":"one","tracked":2}""",
        """{"nested":{"tracked":5,"deeper":[{"tracked":6}]},"tracked":7}""",
        """{"nested":{"tracked":5}}""",
        """{"invalid":3}""",
        """{}""",
        """[]""",
        """[{"tracked":1}]""",
        "1",
        "\"tracked\"",
        "null",
        "",
        "   ",
        """ {"tracked":4,"invalid":1} """,
        """{"tracked":4,"invalid":1}x""",
        """{"tracked":4,"invalid":1}{"tracked":5}""",
        """{"tracked":4,"invalid":1,}""",
        """{"tracked":4 /* c */}""",
        """{"tracked":4""",
        """{"tracked":""",
        "Error:SQLSTATE[HY000] [2002] Connection refused",
        "GIF89a",
        """<html><body>502 Bad Gateway</body></html>""",
        "\uFEFF{\"tracked\":4,\"invalid\":0}",
        """{"tra\u0063ked":8,"inv\u0061lid":1}""",
        """{"Tracked":8}""",
    ];

    [Test]
    public void TryReadBulkAnswer_EveryAnswer_AgreesWithJsonDocument()
    {
        foreach (var answer in Answers)
        {
            var bytes = Encoding.UTF8.GetBytes(answer);
            var expected = WithDocument(bytes);

            var read = HttpBulkWriter.TryReadBulkAnswer(bytes, out var tracked, out var invalid);

            Assert.That((read, tracked, invalid), Is.EqualTo(expected), answer);
        }
    }

    [Test]
    public void TryReadBulkAnswer_DeeperThanJsonAllows_AgreesWithJsonDocument()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"tracked\":1,\"x\":" + new string('[', 70) + new string(']', 70) + "}");

        Assert.That(HttpBulkWriter.TryReadBulkAnswer(bytes, out _, out _), Is.EqualTo(WithDocument(bytes).Read));
    }

    /// <summary>
    /// How the answer was read before: a document, its root's <c>tracked</c> and <c>invalid</c> when they are whole
    /// numbers (before, a member that was not a number threw <see cref="InvalidOperationException"/>, which made the
    /// request a failure to retry; now such an answer is not Matomo's bulk answer).
    /// </summary>
    private static (bool Read, int Tracked, int Invalid) WithDocument(byte[] utf8)
    {
        try
        {
            using var json = JsonDocument.Parse(utf8.AsMemory());
            var root = json.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("tracked"u8, out var trackedElement) && trackedElement.ValueKind == JsonValueKind.Number && trackedElement.TryGetInt32(out var tracked))
            {
                var invalid = root.TryGetProperty("invalid"u8, out var invalidElement) && invalidElement.ValueKind == JsonValueKind.Number && invalidElement.TryGetInt32(out var i) ? i : 0;
                return (true, tracked, invalid);
            }
        }
        catch (JsonException)
        {
        }

        return (false, 0, 0);
    }
}
