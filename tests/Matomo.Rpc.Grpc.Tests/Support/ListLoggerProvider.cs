using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Grpc.Tests.Support;

/// <summary>Keeps every log entry so tests can assert on event names (never on message text).</summary>
public sealed class ListLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new ListLogger(this, categoryName);

    public void Dispose()
    {
    }

    /// <param name="Message">The formatted text, only to check that something (a secret, a user's name) is in no line.</param>
    public sealed record LogEntry(string Category, LogLevel Level, EventId EventId, Exception? Exception, string Message);

    private sealed class ListLogger(ListLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            provider._entries.Enqueue(new LogEntry(category, logLevel, eventId, exception, formatter(state, exception)));
    }
}
