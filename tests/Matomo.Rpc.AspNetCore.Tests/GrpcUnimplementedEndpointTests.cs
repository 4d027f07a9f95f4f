using Grpc.Core;
using Matomo.Rpc.AspNetCore.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Matomo.Rpc.AspNetCore.Tests;

/// <summary>How the HTTP adapter recognises grpc-dotnet's unimplemented fallbacks and reads the status their callers got.</summary>
public sealed class GrpcUnimplementedEndpointTests
{
    private static RouteEndpoint Endpoint(string pattern, params object[] metadata) =>
        new(_ => Task.CompletedTask, RoutePatternFactory.Parse(pattern), 0, new EndpointMetadataCollection(metadata), "test");

    [TestCase("greet.Greeter/{unimplementedMethod:grpcunimplemented}", "greet.Greeter/(unimplemented)")]
    [TestCase("{unimplementedService}/{unimplementedMethod:grpcunimplemented}", "(unimplemented)")]
    [TestCase("/api/greet.Greeter/{unimplementedMethod:grpcunimplemented}", "greet.Greeter/(unimplemented)")]
    public void GrpcUnimplementedAction_GrpcDotnetFallbackPattern_BoundedAction(string pattern, string action)
    {
        Assert.That(EndpointCatalog.GrpcUnimplementedAction(Endpoint(pattern)), Is.EqualTo(action));
    }

    [TestCase("greet.Greeter/{method}")]
    [TestCase("users/{id:int}")]
    [TestCase("greet.Greeter/SayHello")]
    public void GrpcUnimplementedAction_OtherPattern_Null(string pattern)
    {
        Assert.That(EndpointCatalog.GrpcUnimplementedAction(Endpoint(pattern)), Is.Null);
    }

    [TestCase(MethodType.Unary, MatomoCallKind.Unary)]
    [TestCase(MethodType.ClientStreaming, MatomoCallKind.ClientStreaming)]
    [TestCase(MethodType.ServerStreaming, MatomoCallKind.ServerStreaming)]
    [TestCase(MethodType.DuplexStreaming, MatomoCallKind.DuplexStreaming)]
    public void Get_GrpcMethodEndpoint_SkippedAsHttpWithTheInterceptorsActionAndTheMethodsKind(MethodType type, MatomoCallKind kind)
    {
        var catalog = new EndpointCatalog(new MatomoHttpOptions());

        var entry = catalog.Get(Endpoint("greet.Greeter/SayHello", new global::Grpc.AspNetCore.Server.GrpcMethodMetadata(typeof(object), new Method<string, string>(type, "greet.Greeter", "SayHello", Marshallers.StringMarshaller, Marshallers.StringMarshaller))));

        Assert.That((entry.Skipped, entry.GrpcUnimplementedAction), Is.EqualTo((true, (string?)null)));
        Assert.That((entry.GrpcMethodAction, entry.GrpcMethodKind), Is.EqualTo(("/greet.Greeter/SayHello", kind)));
    }

    [Test]
    public void HasMatomoInterceptor_NoServices_Unknown()
    {
        Assert.That(EndpointCatalog.HasMatomoInterceptor(null, new object()), Is.Null);
    }

    [Test]
    public void GrpcMethodOf_MetadataWithoutAMethod_RouteAndHttpKind()
    {
        var endpoint = Endpoint("/v1/greeter/{name}");

        Assert.That(EndpointCatalog.GrpcMethodOf(new object(), endpoint), Is.EqualTo(("v1/greeter/{name}", MatomoCallKind.Http)));
    }

    [Test]
    public void Get_PlainEndpoint_NoGrpcMethodAction()
    {
        var catalog = new EndpointCatalog(new MatomoHttpOptions());

        Assert.That(catalog.Get(Endpoint("users/{id}")).GrpcMethodAction, Is.Null);
    }

    [Test]
    public void Get_UnimplementedFallback_NotSkippedAndNamedBounded()
    {
        var catalog = new EndpointCatalog(new MatomoHttpOptions());

        var entry = catalog.Get(Endpoint("greet.Greeter/{unimplementedMethod:grpcunimplemented}"));

        Assert.That((entry.Skipped, entry.GrpcUnimplementedAction), Is.EqualTo((false, "greet.Greeter/(unimplemented)")));
    }

    [Test]
    public void For_EveryGrpcStatusCode_NamedAsGrpcNamesItAndAnErrorUnlessOk()
    {
        foreach (var code in Enum.GetValues<StatusCode>())
        {
            Assert.That(GrpcStatusOutcomes.For((int)code), Is.EqualTo(new MatomoOutcome(code.ToString(), (int)code, code != StatusCode.OK)));
        }

        Assert.That(GrpcStatusOutcomes.For(42), Is.EqualTo(new MatomoOutcome("42", 42, true)));
    }

    [Test]
    public void Of_StatusInTheHeaders_ThatStatus()
    {
        var context = new DefaultHttpContext();
        context.Response.Headers["grpc-status"] = "12";

        Assert.That(GrpcStatusOutcomes.Of(context, aborted: false, httpStatus: 200).ToString(), Is.EqualTo("Unimplemented (12)"));
    }

    [Test]
    public void Of_StatusInTheTrailers_ThatStatus()
    {
        var context = new DefaultHttpContext();
        var trailers = new HeaderDictionary { ["grpc-status"] = "5" };
        context.Features.Set<IHttpResponseTrailersFeature>(new TrailersFeature(trailers));

        Assert.That(GrpcStatusOutcomes.Of(context, aborted: false, httpStatus: 200).ToString(), Is.EqualTo("NotFound (5)"));
    }

    [TestCase(false, 200, "Unknown (2)")]
    [TestCase(false, 500, "Unknown (2)")]
    [TestCase(false, 404, "Unimplemented (12)")]
    [TestCase(false, 503, "Unavailable (14)")]
    [TestCase(true, 200, "Cancelled (1)")]
    public void Of_NoGrpcStatus_WhatAGrpcClientMakesOfIt(bool aborted, int httpStatus, string expected)
    {
        var context = new DefaultHttpContext();
        if (aborted)
        {
            context.Response.Headers["grpc-status"] = "0";
        }

        Assert.That(GrpcStatusOutcomes.Of(context, aborted, httpStatus).ToString(), Is.EqualTo(expected));
    }

    private sealed class TrailersFeature(IHeaderDictionary trailers) : IHttpResponseTrailersFeature
    {
        public IHeaderDictionary Trailers { get; set; } = trailers;
    }
}
