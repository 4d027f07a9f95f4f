namespace Matomo.Rpc.Grpc.Internal;

/// <summary>
/// What the interceptor learns from a call's request stream: whether reading it failed with an <see cref="IOException"/>,
/// which is how a client's reset of the stream (a cancelled call) or a dropped connection reaches the handler. Kestrel
/// fails the request body at once but cancels the call's token later, on the thread pool, so the token alone can still
/// say "not cancelled" when the handler ends.
/// </summary>
internal abstract class RequestStream
{
    private volatile bool _broken;

    /// <summary>True once reading the request stream failed with an <see cref="IOException"/>: the client is gone.</summary>
    public bool Broken => _broken;

    protected void MarkBroken() => _broken = true;
}
