using System.Collections.Concurrent;
using System.Reflection;
using System.Threading.Channels;
using Microsoft.AspNetCore.SignalR;

namespace Matomo.Rpc.SignalR.Internal;

/// <summary>What the filter needs to know about a hub method, worked out once per method by reflection.</summary>
internal sealed class MethodShape
{
    private static readonly ConcurrentDictionary<MethodInfo, MethodShape> Cache = new();

    private MethodShape(string clientName, Func<object, InvocationScope, object?>? result, (int Index, Func<object, InvocationScope, object?> Wrap)[] arguments)
    {
        ClientName = clientName;
        Result = result;
        Arguments = arguments;
    }

    /// <summary>The name clients invoke the method by (<see cref="HubMethodNameAttribute"/> or the method's name).</summary>
    public string ClientName { get; }

    /// <summary>Wraps the server-to-client stream the method returns; null when the method does not stream results.</summary>
    public Func<object, InvocationScope, object?>? Result { get; }

    /// <summary>Wraps the client-to-server streams the method takes, by argument index.</summary>
    public (int Index, Func<object, InvocationScope, object?> Wrap)[] Arguments { get; }

    public static MethodShape For(MethodInfo method)
    {
        if (Cache.TryGetValue(method, out var shape))
        {
            return shape;
        }

        shape = Create(method);
        return Cache.Count < Limits.CacheSize ? Cache.GetOrAdd(method, shape) : shape;
    }

    private static MethodShape Create(MethodInfo method)
    {
        var name = method.GetCustomAttribute<HubMethodNameAttribute>()?.Name ?? method.Name;

        var arguments = new List<(int, Func<object, InvocationScope, object?>)>();
        var parameters = method.GetParameters();
        for (var i = 0; i < parameters.Length; i++)
        {
            // SignalR passes the exact parameter type for client streams; a derived type cannot take a wrapper.
            var type = parameters[i].ParameterType;
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ChannelReader<>))
            {
                arguments.Add((i, Wrapper(type.GetGenericArguments()[0], nameof(StreamWrappers<object>.ArgumentChannel))));
            }
            else if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>))
            {
                arguments.Add((i, Wrapper(type.GetGenericArguments()[0], nameof(StreamWrappers<object>.ArgumentEnumerable))));
            }
        }

        return new MethodShape(name, ResultWrapper(method.ReturnType), [.. arguments]);
    }

    /// <summary>Follows SignalR: a result (awaited when a task) that is a ChannelReader&lt;T&gt;, else an IAsyncEnumerable&lt;T&gt;, is a stream.</summary>
    private static Func<object, InvocationScope, object?>? ResultWrapper(Type returnType)
    {
        if (returnType.IsGenericType && (returnType.GetGenericTypeDefinition() == typeof(Task<>) || returnType.GetGenericTypeDefinition() == typeof(ValueTask<>)))
        {
            returnType = returnType.GetGenericArguments()[0];
        }

        for (var type = returnType; type is not null; type = type.BaseType)
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ChannelReader<>))
            {
                return Wrapper(type.GetGenericArguments()[0], nameof(StreamWrappers<object>.ResultChannel));
            }
        }

        var enumerable = returnType.IsGenericType && returnType.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>)
            ? returnType
            : Array.Find(returnType.GetInterfaces(), i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>));
        return enumerable is null ? null : Wrapper(enumerable.GetGenericArguments()[0], nameof(StreamWrappers<object>.ResultEnumerable));
    }

    private static Func<object, InvocationScope, object?> Wrapper(Type itemType, string name) =>
        typeof(StreamWrappers<>).MakeGenericType(itemType).GetMethod(name, BindingFlags.Public | BindingFlags.Static)!
            .CreateDelegate<Func<object, InvocationScope, object?>>();
}
