namespace Matomo.Rpc.Grpc.Internal;

/// <summary>
/// What the interceptor learns from a call's request stream: whether reading it failed with the transport's
/// <see cref="IOException"/>, which is how a client's reset of the stream (a cancelled call) or a dropped connection
/// reaches the handler. Kestrel fails the request body at once but cancels the call's token later, on the thread pool,
/// so the token alone can still say "not cancelled" when the handler ends.
/// </summary>
internal abstract class RequestStream
{
    private volatile bool _broken;

    /// <summary>True once reading the request stream failed with the transport's <see cref="IOException"/>: the client is gone.</summary>
    public bool Broken => _broken;

    /// <summary>Notes a failed read: the client is gone only when the transport failed, not the message's deserializer.</summary>
    protected void Failed(IOException exception)
    {
        if (FromTransport(exception))
        {
            _broken = true;
        }
    }

    /// <summary>
    /// True for the server's own failure of the request body: a plain <see cref="IOException"/> (Kestrel's "the client
    /// reset the request stream" and aborted streams) or one of ASP.NET Core's or System.Net's subclasses (a connection
    /// reset, an HTTP/1.1 body cut short under grpc-web). False for a deserializer's: protobuf's
    /// <c>InvalidProtocolBufferException</c> is an <see cref="IOException"/> too, thrown by the same read for a message that
    /// does not parse while the client is still there, and grpc-dotnet answers that with <c>Unknown</c>.
    /// </summary>
    internal static bool FromTransport(IOException exception)
    {
        var type = exception.GetType();
        if (type == typeof(IOException))
        {
            return true;
        }

        var assembly = type.Assembly.GetName().Name;
        return assembly is not null
            && (assembly.StartsWith("Microsoft.AspNetCore.", StringComparison.Ordinal) || assembly.StartsWith("System.Net.", StringComparison.Ordinal));
    }
}
