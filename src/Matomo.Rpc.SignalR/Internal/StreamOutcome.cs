using System.Threading.Channels;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>How a tracked call ends when its code (or its stream) throws.</summary>
internal static class StreamOutcome
{
    /// <summary>Completes <paramref name="scope"/> as cancelled when the exception is the cancellation asked for, else as an error.</summary>
    public static void Fail(MatomoCallScope scope, Exception exception, bool cancellationRequested)
    {
        if (exception is OperationCanceledException && cancellationRequested)
        {
            scope.Complete(MatomoOutcome.Cancelled);
            return;
        }

        // A channel completed with an error reports it wrapped; the type that matters is the one inside.
        scope.Complete(MatomoOutcome.Error, exception is ChannelClosedException { InnerException: { } inner } ? inner : exception);
    }
}
