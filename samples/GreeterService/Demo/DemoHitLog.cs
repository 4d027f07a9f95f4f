using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;

namespace GreeterService.Demo;

/// <summary>
/// Collects the exact queries log-only mode writes at Debug (category <c>Matomo.Rpc.Hits</c>, event <c>HitQuery</c>) so the demo can print
/// them under the call that made them. The queries never contain the token: it travels only in a bulk request's body.
/// </summary>
internal sealed class DemoHitLog : ILoggerProvider, ILogger
{
    public const string Category = "Matomo.Rpc.Hits";
    private const string HitQueryEvent = "HitQuery";

    private readonly ConcurrentQueue<string> _queries = new();
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public ILogger CreateLogger(string categoryName) => categoryName == Category ? this : NullLogger.Instance;

    public bool TryTake(out string query) => _queries.TryDequeue(out query!);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Name != HitQueryEvent || state is not IReadOnlyList<KeyValuePair<string, object?>> values)
        {
            return;
        }

        foreach (var (key, value) in values)
        {
            if (key == "Query" && value is string query)
            {
                _queries.Enqueue(query);
                Interlocked.Increment(ref _count);
            }
        }
    }

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public void Dispose()
    {
    }
}
