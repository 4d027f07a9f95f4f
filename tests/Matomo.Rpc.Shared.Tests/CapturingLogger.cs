using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>Keeps log entries (event name, level, text) for assertions on EventName.</summary>
internal sealed class CapturingLogger : ILogger
{
    private readonly List<(string? EventName, LogLevel Level, string Text)> _entries = [];

    public IReadOnlyList<(string? EventName, LogLevel Level, string Text)> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public IEnumerable<string?> EventNames => Entries.Select(e => e.EventName);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries)
        {
            _entries.Add((eventId.Name, logLevel, formatter(state, exception)));
        }
    }
}
