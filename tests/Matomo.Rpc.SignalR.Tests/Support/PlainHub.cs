using Matomo.Rpc.SignalR;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR.Tests.Support;

/// <summary>A hub the filter is not registered for (with per-hub registration).</summary>
public sealed class PlainHub : Hub
{
    public string TrySetVar()
    {
        try
        {
            Context.SetMatomoVar("dimension1", "x");
            return "no exception";
        }
        catch (InvalidOperationException ex)
        {
            return ex.GetType().Name;
        }
    }
}
