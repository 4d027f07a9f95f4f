using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.TestSupport.Reliability;

/// <summary>
/// Keeps every log entry at every level with its formatted message, state values and exception text, so that a test can
/// search all of it for a secret.
/// </summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();

    public IReadOnlyList<CapturedLog> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<CapturedLog> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            entries.Enqueue(new CapturedLog(category, LogLevel.Trace, default, "scope: " + state, null));
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = formatter(state, exception);
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                text += " | " + string.Join(" | ", values.Select(v => v.Key + "=" + v.Value));
            }

            entries.Enqueue(new CapturedLog(category, logLevel, eventId, text, exception?.ToString()));
        }
    }
}

/// <summary>One captured log entry.</summary>
public sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Text, string? Exception)
{
    public bool Contains(string secret) =>
        Text.Contains(secret, StringComparison.OrdinalIgnoreCase)
        || (Exception?.Contains(secret, StringComparison.OrdinalIgnoreCase) ?? false)
        || (EventId.Name?.Contains(secret, StringComparison.OrdinalIgnoreCase) ?? false);
}
