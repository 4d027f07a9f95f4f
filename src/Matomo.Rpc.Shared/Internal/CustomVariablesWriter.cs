using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Internal;

/// <summary>
/// Writes a hit's <c>cvar</c>: the built-in variables (status, kind, sample rate, messages, error, transport, the
/// adapter's fields) when recorded, then those service code added, as <c>{"1":["name","value"],...}</c> within the
/// slots there are. Most hits carry only the built-in status, kind and maybe the sample rate, whose <c>cvar</c> is the
/// same for every call with that outcome and kind: it is written and percent-encoded once, and found by reference when
/// the strings are the ones of the hit before. Not thread-safe (one per encoder).
/// </summary>
// The JSON writer and its buffer hold no unmanaged resource: dropping them with the encoder is enough.
#pragma warning disable CA1001
internal sealed class CustomVariablesWriter
#pragma warning restore CA1001
{
    private const int BuiltInCacheSize = 1024;

    private readonly int _slots;
    private readonly ILogger _logger;
    private readonly ArrayBufferWriter<byte> _json = new(256);
    private readonly Utf8JsonWriter _jsonWriter;
    private readonly string[] _slotNames;
    private readonly List<KeyValuePair<string, string>> _variables = new(8);
    private readonly Dictionary<(string Status, string Kind, string? Sample), byte[]> _builtIn = [];
    private (string Status, string Kind, string? Sample, byte[] Escaped)? _last;
    private bool _slotsExceededLogged;

    public CustomVariablesWriter(int slots, ILogger logger)
    {
        _slots = slots;
        _logger = logger;
        // The relaxed encoder: the JSON goes into a query, never into an HTML page, so '&', '+', '<', '>', '\'' and '`'
        // need no \uXXXX (8 bytes once percent-encoded, against 3 or 1). json_decode reads both the same.
        _jsonWriter = new Utf8JsonWriter(_json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        _slotNames = new string[Math.Max(0, slots)];
        for (var i = 0; i < _slotNames.Length; i++)
        {
            _slotNames[i] = (i + 1).ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// Writes the hit's <c>cvar</c>, if it has any variable. <paramref name="status"/>: the outcome's text when the
    /// built-in variables are recorded, null when they are not; <paramref name="messages"/>: the hit's messages text.
    /// </summary>
    public void Write(QueryWriter query, MatomoHit hit, string? status, string? messages)
    {
        var onlyBuiltIn = status is not null && hit.Fields.Count == 0 && hit.CustomVariables.Count == 0
            && hit.ErrorType is null && hit.Transport is null && messages is null;
        var kind = HitEncoder.KindName(hit.Kind);

        // Most hits: the same status, kind and sample rate strings as the hit before.
        if (onlyBuiltIn && _last is { } last
            && ReferenceEquals(status, last.Status) && ReferenceEquals(kind, last.Kind) && ReferenceEquals(hit.SampleRateText, last.Sample))
        {
            query.AddEncoded("cvar"u8, last.Escaped);
            return;
        }

        var variables = _variables;
        variables.Clear();
        if (status is not null)
        {
            variables.Add(new("status", status));
            variables.Add(new("kind", kind));

            // Third, before the optional fields, so that the slots there are keep it: a report is scaled by it.
            if (hit.SampleRateText is { } sample)
            {
                variables.Add(new("sample", sample));
            }

            if (messages is not null)
            {
                variables.Add(new("messages", messages));
            }

            if (hit.ErrorType is { } error)
            {
                variables.Add(new("error", error));
            }

            if (hit.Transport is { } transport)
            {
                variables.Add(new("transport", transport));
            }

            variables.AddRange(hit.Fields);
        }

        variables.AddRange(hit.CustomVariables);
        if (variables.Count == 0)
        {
            return;
        }

        // Only the built-in status, kind and sample rate: the same bytes for every such hit, encoded once.
        var builtIn = onlyBuiltIn ? (status!, kind, hit.SampleRateText) : default;
        if (onlyBuiltIn && _builtIn.TryGetValue(builtIn, out var cached))
        {
            _last = (builtIn.Item1, builtIn.Item2, builtIn.Item3, cached);
            query.AddEncoded("cvar"u8, cached);
            return;
        }

        if (variables.Count > _slots && !_slotsExceededLogged)
        {
            _slotsExceededLogged = true;
            Log.CustomVariableSlotsExceeded(_logger, _slots);
        }

        var json = WriteJson(variables);
        if (onlyBuiltIn)
        {
            var escaped = new ArrayBufferWriter<byte>(json.Length * 3);
            QueryWriter.EscapeUtf8(escaped, json);
            if (_builtIn.Count >= BuiltInCacheSize)
            {
                _builtIn.Clear();
            }

            var bytes = escaped.WrittenSpan.ToArray();
            _builtIn[builtIn] = bytes;
            _last = (builtIn.Item1, builtIn.Item2, builtIn.Item3, bytes);
        }

        query.AddUtf8("cvar"u8, json);
    }

    private ReadOnlySpan<byte> WriteJson(List<KeyValuePair<string, string>> variables)
    {
        // One writer, reset per hit (also after a hit that failed half-way): its bytes are percent-encoded as they are.
        _json.ResetWrittenCount();
        var writer = _jsonWriter;
        writer.Reset(_json);
        writer.WriteStartObject();
        for (var i = 0; i < variables.Count && i < _slots; i++)
        {
            writer.WriteStartArray(_slotNames[i]);
            writer.WriteStringValue(TextSanitizer.Clip(variables[i].Key, Limits.CustomVariable));
            writer.WriteStringValue(TextSanitizer.Clip(variables[i].Value, Limits.CustomVariable));
            writer.WriteEndArray();
        }

        writer.WriteEndObject();
        writer.Flush();
        return _json.WrittenSpan;
    }
}
