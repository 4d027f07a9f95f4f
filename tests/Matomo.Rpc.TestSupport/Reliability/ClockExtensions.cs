namespace Matomo.Rpc.TestSupport.Reliability;

public static class ClockExtensions
{
    /// <summary>Whole seconds, as <c>cdt</c> carries them.</summary>
    public static DateTimeOffset FloorToSecond(this DateTimeOffset time) => new(time.Ticks - (time.Ticks % TimeSpan.TicksPerSecond), time.Offset);
}
