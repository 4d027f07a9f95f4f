using System.Globalization;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// The design Matomo.Rpc replaces, for contrast: the seed (asgi-matomo) awaits one HTTP POST to Matomo per request,
/// inside the request, with a 5 s timeout. Not a tracker to use.
/// </summary>
internal sealed class NaiveMatomoInterceptor : Interceptor
{
    private static readonly HttpClient Client = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = TimeSpan.FromSeconds(5),
    };

    private readonly NaiveTarget _target;

    public NaiveMatomoInterceptor(NaiveTarget target)
    {
        _target = target;
    }

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request,
        ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var started = TimeProvider.System.GetTimestamp();
        var response = await continuation(request, context);
        var ms = (long)TimeProvider.System.GetElapsedTime(started).TotalMilliseconds;
        var action = context.Method.TrimStart('/');
        try
        {
            using var content = new FormUrlEncodedContent(
            [
                new("idsite", "1"),
                new("rec", "1"),
                new("apiv", "1"),
                new("url", "https://" + context.Host + "/" + action),
                new("action_name", action),
                new("pf_srv", ms.ToString(CultureInfo.InvariantCulture)),
                new("send_image", "0"),
            ]);
            using var answer = await Client.PostAsync(_target.TrackerUrl, content, context.CancellationToken);
        }
        catch (Exception)
        {
            // The seed logs and carries on; so does this.
        }

        return response;
    }
}

internal sealed record NaiveTarget(string TrackerUrl);
