using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// A <see cref="FakeTimeProvider"/> view that counts timers armed and not yet fired or disposed, so a test can move the
/// clock only while the code under test is parked on a timer (no race between the test's steps and its work).
/// </summary>
internal sealed class ArmedTimeProvider : TimeProvider
{
    private readonly FakeTimeProvider _inner;
    private int _armed;

    public ArmedTimeProvider(FakeTimeProvider inner) => _inner = inner;

    public int Armed => Volatile.Read(ref _armed);

    public override DateTimeOffset GetUtcNow() => _inner.GetUtcNow();

    public override long GetTimestamp() => _inner.GetTimestamp();

    public override long TimestampFrequency => _inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => _inner.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new Timer(this);
        Interlocked.Increment(ref _armed);
        timer.Inner = _inner.CreateTimer(
            s =>
            {
                if (period == Timeout.InfiniteTimeSpan)
                {
                    timer.Release();
                }

                callback(s);
            },
            state,
            dueTime,
            period);
        return timer;
    }

    private sealed class Timer(ArmedTimeProvider owner) : ITimer
    {
        private int _released;

        public ITimer Inner { get; set; } = null!;

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                Interlocked.Decrement(ref owner._armed);
            }
        }

        public bool Change(TimeSpan dueTime, TimeSpan period) => Inner.Change(dueTime, period);

        public void Dispose()
        {
            Release();
            Inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Release();
            return Inner.DisposeAsync();
        }
    }
}
