using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.AspNetCore.Tests.Support;

/// <summary>A hub with one method.</summary>
public sealed class TestHub : Hub
{
    public string Echo(string text) => text;
}
