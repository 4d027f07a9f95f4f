using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests;

/// <summary>
/// A <see cref="FakeTimeProvider"/> view that counts timers armed (with a finite due time) and not yet fired, disarmed
/// or disposed, so a test can move the clock only while the code under test is parked on a timer (no race between the
/// test's steps and its work). A timer created with an infinite due time and armed later by <see cref="ITimer.Change"/>
/// counts from that change on, not from its creation: counting it earlier let a test move the clock between the two,
/// and the timer then fell due after the time the test moved to.
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
        timer.Inner = _inner.CreateTimer(
            s =>
            {
                timer.Fired();
                callback(s);
            },
            state,
            Timeout.InfiniteTimeSpan,
            Timeout.InfiniteTimeSpan);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class Timer(ArmedTimeProvider owner) : ITimer
    {
        private readonly Lock _gate = new();
        private bool _armed;
        private bool _disposed;
        private TimeSpan _period = Timeout.InfiniteTimeSpan;

        public ITimer Inner { get; set; } = null!;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (_gate)
            {
                if (_disposed)
                {
                    return false;
                }

                _period = period;

                // Armed before the inner timer may fire (a zero due time fires within Change), so its firing disarms it.
                Set(dueTime != Timeout.InfiniteTimeSpan);
            }

            return Inner.Change(dueTime, period);
        }

        public void Fired()
        {
            lock (_gate)
            {
                if (_period == Timeout.InfiniteTimeSpan)
                {
                    Set(false);
                }
            }
        }

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

        private void Release()
        {
            lock (_gate)
            {
                _disposed = true;
                Set(false);
            }
        }

        private void Set(bool armed)
        {
            if (armed != _armed)
            {
                _armed = armed;
                if (armed)
                {
                    Interlocked.Increment(ref owner._armed);
                }
                else
                {
                    Interlocked.Decrement(ref owner._armed);
                }
            }
        }
    }
}
