using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>Keeps the event names of warnings and errors logged by the host, to assert that tracking logged no failure.</summary>
public sealed class CollectingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<(string Category, EventId EventId, LogLevel Level)> _entries = new();

    public IReadOnlyList<(string Category, EventId EventId, LogLevel Level)> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<(string, EventId, LogLevel)> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                entries.Enqueue((category, eventId, logLevel));
            }
        }
    }
}
