using Grpc.Core.Interceptors;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// Mode 12: an interceptor that overrides nothing (the base class calls on), a singleton as MatomoInterceptor is. What
/// it costs is grpc-dotnet's price for having an interceptor at all: its pipeline wraps each interceptor, and the service
/// method behind them, in an async method, so a unary call that completes at once still gets two tasks of its own.
/// </summary>
internal sealed class EmptyInterceptor : Interceptor;
