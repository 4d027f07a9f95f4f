namespace Matomo.Rpc.AspNetCore.Internal;

/// <summary>Registered by <c>AddHttpTracking</c>: tells <c>UseMatomoTracking</c> that the services are there.</summary>
internal sealed class HttpTrackingMarker;
