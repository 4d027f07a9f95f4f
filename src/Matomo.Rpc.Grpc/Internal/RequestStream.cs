using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;

namespace Matomo.Rpc.Grpc.Internal;

/// <summary>
/// What the interceptor learns from a call's request stream: whether reading it failed because the transport broke,
/// which is how a client's reset of the stream (a cancelled call) or a dropped connection reaches the handler. Kestrel
/// fails the request body at once but cancels the call's token later, on the thread pool, so the token alone can still
/// say "not cancelled" when the handler ends.
/// </summary>
internal abstract class RequestStream
{
    private volatile bool _broken;

    /// <summary>True once reading the request stream failed because the transport broke: the client is gone.</summary>
    public bool Broken => _broken;

    /// <summary>
    /// Notes a read that failed with <paramref name="exception"/> when the transport broke: Kestrel fails the request
    /// body with an <see cref="IOException"/> itself (HTTP/2 and HTTP/3: a reset stream or a lost connection, the reason
    /// inside), a <see cref="ConnectionResetException"/>, or a <see cref="BadHttpRequestException"/> (a body cut short).
    /// Not a message the deserializer rejected: Google.Protobuf's <c>InvalidProtocolBufferException</c> is an
    /// <see cref="IOException"/> too, but it fails the handler, and the client gets <c>Unknown</c>.
    /// </summary>
    protected void NoteFailedRead(IOException exception)
    {
        if (exception.GetType() == typeof(IOException) || exception is ConnectionResetException or BadHttpRequestException)
        {
            _broken = true;
        }
    }
}
