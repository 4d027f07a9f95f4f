using Microsoft.Extensions.Time.Testing;

namespace Matomo.Rpc.Shared.Tests.Reliability;

/// <summary>
/// A <see cref="FakeTimeProvider"/> view that, once armed, moves the clock past <see cref="Jump"/> when the code under
/// test creates a timer shorter than it: with the shutdown deadline as the jump, the deadline passes exactly while the
/// sender arms the flush-interval timer of the batch it is filling.
/// </summary>
internal sealed class DeadlineOnFlushTimerTimeProvider(FakeTimeProvider inner, TimeSpan jump) : TimeProvider
{
    private int _armed;

    public TimeSpan Jump { get; } = jump;

    public bool Fired { get; private set; }

    public void Arm() => Volatile.Write(ref _armed, 1);

    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

    public override long GetTimestamp() => inner.GetTimestamp();

    public override long TimestampFrequency => inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (dueTime < Jump && Interlocked.Exchange(ref _armed, 0) == 1)
        {
            inner.Advance(Jump);
            Fired = true;
        }

        return inner.CreateTimer(callback, state, dueTime, period);
    }
}
