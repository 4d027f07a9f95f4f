using System.Threading.Channels;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>How a tracked call ends when its code (or its stream) throws.</summary>
internal static class StreamOutcome
{
    /// <summary>Completes <paramref name="call"/> as cancelled when the exception is the cancellation asked for, else as an error.</summary>
    public static void Fail(MatomoCall call, Exception exception, bool cancellationRequested)
    {
        if (exception is OperationCanceledException && cancellationRequested)
        {
            call.Complete(MatomoOutcome.Cancelled);
            return;
        }

        // A channel completed with an error reports it wrapped; the type that matters is the one inside.
        call.SetException(exception is ChannelClosedException { InnerException: { } inner } ? inner : exception);
        call.Complete(MatomoOutcome.Error);
    }
}
