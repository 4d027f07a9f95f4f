using System.Globalization;
using System.Runtime.CompilerServices;
using Matomo.Rpc.SignalR;
using Microsoft.AspNetCore.SignalR;

namespace GreeterService.Hubs;

/// <summary>A small chat hub; every invocation, stream, connect and disconnect is tracked by MatomoHubFilter.</summary>
public sealed class ChatHub : Hub
{
    public const string ReceiveMessage = "ReceiveMessage";

    /// <summary>Returns the message. Shows the per-invocation API.</summary>
    public string Echo(string message)
    {
        ArgumentNullException.ThrowIfNull(message);

        // Per invocation (never per connection): this custom variable goes with this Echo's hit only.
        Context.AddMatomoCustomVariable("message_length", message.Length.ToString(CultureInfo.InvariantCulture));
        return message;
    }

    /// <summary>Broadcasts a message to every connected client.</summary>
    public Task Send(string user, string message) => Clients.All.SendAsync(ReceiveMessage, user, message);

    /// <summary>Streams 1..count, one every delayMs; tracked once, when the stream ends.</summary>
    public async IAsyncEnumerable<int> Counter(int count, int delayMs, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = 1; i <= count; i++)
        {
            yield return i;
            await Task.Delay(Math.Max(0, delayMs), cancellationToken);
        }
    }

    /// <summary>Always fails; the client gets the message, Matomo gets an error outcome.</summary>
    public void Fail() => throw new HubException("Fail() always fails.");
}
