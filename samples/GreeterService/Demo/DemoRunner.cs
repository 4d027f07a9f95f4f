using System.Text;
using System.Text.Json;
using Greet;
using GreeterService.Hubs;
using GreeterService.Services;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Matomo.Rpc;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace GreeterService.Demo;

/// <summary>
/// The --demo run: starts the sample on free loopback ports, calls every Greeter and hub method with the real clients
/// (the failing ones too), prints the Matomo hit each call produced, stops the host (which drains the sender) and exits.
/// </summary>
internal static class DemoRunner
{
    public const string Switch = "--demo";

    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan HitTimeout = TimeSpan.FromSeconds(3);

    public static async Task<int> RunAsync(string[] args)
    {
        var hitLog = new DemoHitLog();
        ListenOptions? grpcEndpoint = null;
        ListenOptions? webEndpoint = null;

        await using var app = GreeterApp.Build(args, builder =>
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                // Port 0: the system picks free ports, so the demo never collides with a running service.
                ["Kestrel:Endpoints:Grpc:Url"] = "http://127.0.0.1:0",
                ["Kestrel:Endpoints:Web:Url"] = "http://127.0.0.1:0",
                // Hits are batched for up to a second by default; the demo shows each under its call sooner.
                ["Matomo:Sending:FlushInterval"] = "00:00:00.100",
                // Quiet logs: the demo's own lines, warnings, and what Matomo.Rpc says.
                ["Logging:LogLevel:Default"] = "Warning",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                ["Logging:LogLevel:Matomo.Rpc"] = "Information",
                // Expected on the Web endpoint (cleartext HTTP/2 needs the Http2-only Grpc endpoint); not news in a demo.
                ["Logging:LogLevel:Microsoft.AspNetCore.Server.Kestrel"] = "Error",
                // 'boom' and Fail() fail on purpose; the servers' error logs with stack traces would bury the output.
                ["Logging:LogLevel:Grpc.AspNetCore.Server.ServerCallHandler"] = "None",
                ["Logging:LogLevel:Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher"] = "None",
            });
            builder.WebHost.ConfigureKestrel((context, kestrel) => kestrel
                .Configure(context.Configuration.GetSection("Kestrel"))
                .Endpoint("Grpc", endpoint => grpcEndpoint = endpoint.ListenOptions)
                .Endpoint("Web", endpoint => webEndpoint = endpoint.ListenOptions));

            builder.Logging.ClearProviders();
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
            builder.Logging.AddProvider(hitLog);
            // The demo prints the hits itself, decoded, under the call that made them.
            builder.Logging.AddFilter<ConsoleLoggerProvider>(DemoHitLog.Category, LogLevel.None);
            // The exact query of each hit is logged at Debug (event HitQuery).
            builder.Logging.AddFilter<DemoHitLog>(DemoHitLog.Category, LogLevel.Debug);
        });

        MatomoOptions options;
        try
        {
            options = app.Services.GetRequiredService<IOptions<MatomoOptions>>().Value;
            await app.StartAsync();
        }
        catch (OptionsValidationException ex)
        {
            Console.Error.WriteLine("The Matomo configuration is invalid:");
            foreach (var failure in ex.Failures)
            {
                Console.Error.WriteLine("  " + failure);
            }

            return 2;
        }

        var grpcUrl = "http://127.0.0.1:" + grpcEndpoint!.IPEndPoint!.Port;
        var webUrl = "http://127.0.0.1:" + webEndpoint!.IPEndPoint!.Port;
        var tracker = app.Services.GetRequiredService<MatomoTracker>();
        var demo = new DemoSession(tracker, hitLog, options.LogOnly);

        Console.WriteLine();
        Console.WriteLine("GreeterService demo");
        Console.WriteLine($"  gRPC     {grpcUrl} (HTTP/2)");
        Console.WriteLine($"  SignalR  {webUrl}{GreeterApp.HubPath}");
        Console.WriteLine($"  HTTP     {webUrl}/hello/{{name}}, {webUrl}/api/greetings/{{name}}");
        Console.WriteLine(options.LogOnly
            ? "  Matomo   log-only mode (Matomo:TrackerUrl is not set): each hit is printed, nothing is sent."
            : $"  Matomo   sending to {options.TrackerUrl} for site {options.SiteId}"
              + (string.IsNullOrEmpty(options.TokenAuth) ? " without a token (no cip)." : " with a token (cip is sent)."));

        using var channel = GrpcChannel.ForAddress(grpcUrl);
        await RunGrpcAsync(demo, new Greeter.GreeterClient(channel), new Health.HealthClient(channel));
        await RunSignalRAsync(demo, webUrl + GreeterApp.HubPath);
        await RunHttpAsync(demo, webUrl);

        demo.Header("Stopping the host: the sender drains its queue");
        await app.StopAsync();
        demo.PrintPendingHits();

        var stats = tracker.Statistics;
        Console.WriteLine();
        Console.WriteLine(
            $"Matomo pipeline: {stats.Queued} hits queued, {stats.Sent} {(options.LogOnly ? "written to the log" : "tracked by Matomo")}, "
            + $"{stats.Rejected} rejected, {stats.Dropped} dropped, {stats.Retried} retried requests.");
        if (demo.Failures > 0)
        {
            Console.WriteLine($"{demo.Failures} demo step(s) did not behave as expected.");
            return 1;
        }

        Console.WriteLine("Demo finished.");
        return 0;
    }

    private static async Task RunGrpcAsync(DemoSession demo, Greeter.GreeterClient client, Health.HealthClient health)
    {
        await demo.StepAsync("gRPC unary  SayHello(\"Ada\")  with header x-user-id: demo-user", async () =>
        {
            var headers = new Metadata { { GreeterRpcService.UserIdHeader, "demo-user" } };
            var reply = await client.SayHelloAsync(new HelloRequest { Name = "Ada" }, headers, Deadline());
            return reply.Message;
        });

        await demo.StepAsync("gRPC unary  SayHello(\"\")  fails with InvalidArgument", () =>
            ExpectStatusAsync(client.SayHelloAsync(new HelloRequest { Name = "" }, deadline: Deadline()).ResponseAsync, StatusCode.InvalidArgument));

        await demo.StepAsync("gRPC unary  SayHello(\"boom\")  throws an unhandled exception in the service", () =>
            ExpectStatusAsync(client.SayHelloAsync(new HelloRequest { Name = "boom" }, deadline: Deadline()).ResponseAsync, StatusCode.Unknown));

        await demo.StepAsync("gRPC server streaming  SayHelloStream(\"Grace\", count: 3)", async () =>
        {
            using var call = client.SayHelloStream(new HelloRequest { Name = "Grace", Count = 3 }, deadline: Deadline());
            var replies = new List<string>();
            await foreach (var reply in call.ResponseStream.ReadAllAsync())
            {
                replies.Add(reply.Message);
            }

            return string.Join(" | ", replies);
        });

        await demo.StepAsync("gRPC client streaming  SayHelloToMany(\"Ada\", \"Grace\", \"Linus\")", async () =>
        {
            using var call = client.SayHelloToMany(deadline: Deadline());
            foreach (var name in new[] { "Ada", "Grace", "Linus" })
            {
                await call.RequestStream.WriteAsync(new HelloRequest { Name = name });
            }

            await call.RequestStream.CompleteAsync();
            return (await call.ResponseAsync).Message;
        });

        await demo.StepAsync("gRPC duplex streaming  Chat(\"Barbara\", \"Edsger\")", async () =>
        {
            using var call = client.Chat(deadline: Deadline());
            var replies = new List<string>();
            foreach (var name in new[] { "Barbara", "Edsger" })
            {
                await call.RequestStream.WriteAsync(new HelloRequest { Name = name });
                if (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                    replies.Add(call.ResponseStream.Current.Message);
                }
            }

            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                replies.Add(call.ResponseStream.Current.Message);
            }

            return string.Join(" | ", replies);
        });

        await demo.StepAsync("gRPC health  grpc.health.v1.Health/Check  (excluded from tracking by default: no hit)", async () =>
        {
            var reply = await health.CheckAsync(new HealthCheckRequest(), deadline: Deadline());
            return reply.Status.ToString();
        }, expectHit: false);
    }

    private static async Task RunSignalRAsync(DemoSession demo, string hubUrl)
    {
        var connection = new HubConnectionBuilder().WithUrl(hubUrl).Build();
        await using var _ = connection;
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.On<string, string>(ChatHub.ReceiveMessage, (user, message) => received.TrySetResult($"{user}: {message}"));

        await demo.StepAsync("SignalR connect  " + hubUrl, async () =>
        {
            await connection.StartAsync().WaitAsync(CallTimeout);
            return "connected, connection id " + connection.ConnectionId;
        });

        await demo.StepAsync("SignalR invocation  Echo(\"hello hub\")", () =>
            connection.InvokeAsync<string>(nameof(ChatHub.Echo), "hello hub").WaitAsync(CallTimeout));

        await demo.StepAsync("SignalR invocation  Send(\"ada\", \"hi all\")  broadcast", async () =>
        {
            await connection.InvokeAsync(nameof(ChatHub.Send), "ada", "hi all").WaitAsync(CallTimeout);
            return "received " + await received.Task.WaitAsync(CallTimeout);
        });

        await demo.StepAsync("SignalR stream  Counter(count: 3, delayMs: 20)  tracked when the stream ends", async () =>
        {
            var values = new List<int>();
            using var timeout = new CancellationTokenSource(CallTimeout);
            await foreach (var value in connection.StreamAsync<int>(nameof(ChatHub.Counter), 3, 20, timeout.Token))
            {
                values.Add(value);
            }

            return string.Join(", ", values);
        });

        await demo.StepAsync("SignalR invocation  Fail()  throws a HubException", async () =>
        {
            try
            {
                await connection.InvokeAsync(nameof(ChatHub.Fail)).WaitAsync(CallTimeout);
            }
            catch (HubException ex)
            {
                return "HubException (expected): " + ex.Message;
            }

            throw new InvalidOperationException("Fail() did not fail.");
        });

        await demo.StepAsync("SignalR disconnect", async () =>
        {
            await connection.StopAsync().WaitAsync(CallTimeout);
            return "disconnected";
        });
    }

    private static async Task RunHttpAsync(DemoSession demo, string webUrl)
    {
        using var http = new HttpClient { BaseAddress = new Uri(webUrl), Timeout = CallTimeout };

        await demo.StepAsync("HTTP  GET /hello/Ada  (minimal API, text)", () =>
            http.GetStringAsync(new Uri("/hello/Ada", UriKind.Relative)));

        await demo.StepAsync("HTTP  GET /api/greetings/Grace?ref=newsletter  (JSON; the query string is not tracked by default)", () =>
            http.GetStringAsync(new Uri("/api/greetings/Grace?ref=newsletter", UriKind.Relative)));

        await demo.StepAsync("HTTP  GET /no/such/page  (no route: tracked as \"GET (unmatched)\")", async () =>
        {
            using var response = await http.GetAsync(new Uri("/no/such/page", UriKind.Relative));
            return $"{(int)response.StatusCode} {response.ReasonPhrase}";
        });

        await demo.StepAsync("HTTP  GET /health  (health checks are excluded by default: no hit)", () =>
            http.GetStringAsync(new Uri("/health", UriKind.Relative)), expectHit: false);
    }

    private static async Task<string> ExpectStatusAsync(Task<HelloReply> call, StatusCode expected)
    {
        try
        {
            await call;
        }
        catch (RpcException ex) when (ex.StatusCode == expected)
        {
            return $"RpcException (expected): {ex.StatusCode} \"{ex.Status.Detail}\"";
        }

        throw new InvalidOperationException($"The call did not fail with {expected}.");
    }

    private static DateTime Deadline() => DateTime.UtcNow.Add(CallTimeout);

    /// <summary>Prints the steps and the hits that followed each one.</summary>
    private sealed class DemoSession(MatomoTracker tracker, DemoHitLog hitLog, bool logOnly)
    {
        private bool _rawShown;

        public int Failures { get; private set; }

        public void Header(string title)
        {
            Console.WriteLine();
            Console.WriteLine("== " + title);
        }

        public async Task StepAsync(string title, Func<Task<string>> step, bool expectHit = true)
        {
            Header(title);
            var queuedBefore = tracker.Statistics.Queued;
            try
            {
                Console.WriteLine("   result: " + await step());
            }
            catch (Exception ex)
            {
                Failures++;
                Console.WriteLine($"   UNEXPECTED {ex.GetType().Name}: {ex.Message}");
            }

            await WaitForHitsAsync(queuedBefore, expectHit);
            PrintPendingHits();
            if (!expectHit && tracker.Statistics.Queued == queuedBefore)
            {
                Console.WriteLine("   (no hit)");
            }
        }

        public void PrintPendingHits()
        {
            while (hitLog.TryTake(out var query))
            {
                PrintHit(query);
            }
        }

        private async Task WaitForHitsAsync(long queuedBefore, bool expectHit)
        {
            var deadline = DateTime.UtcNow + HitTimeout;
            if (expectHit)
            {
                // A hit is queued when the call completes on the server, which may be just after the client got its answer.
                while (tracker.Statistics.Queued == queuedBefore && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(20);
                }
            }

            // Let any further hits of the same step arrive (a stream's end, a disconnect).
            var queued = tracker.Statistics.Queued;
            for (var quiet = 0; quiet < 5 && DateTime.UtcNow < deadline; quiet++)
            {
                await Task.Delay(30);
                if (tracker.Statistics.Queued != queued)
                {
                    queued = tracker.Statistics.Queued;
                    quiet = 0;
                }
            }

            if (!logOnly)
            {
                var count = queued - queuedBefore;
                if (count > 0 || expectHit)
                {
                    Console.WriteLine(count > 0 ? $"   -> {count} hit(s) queued for Matomo" : "   (no hit queued)");
                }
                return;
            }

            // Log-only: wait until the sender has written the hits to the log.
            while (hitLog.Count < queued && DateTime.UtcNow < deadline + HitTimeout)
            {
                await Task.Delay(20);
            }
        }

        private static Dictionary<string, string> ParseQuery(string query)
        {
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=');
                // As PHP decodes it: '+' is a space.
                result[Decode(eq < 0 ? pair : pair[..eq])] = eq < 0 ? string.Empty : Decode(pair[(eq + 1)..]);
            }

            return result;
        }

        private static string Decode(string text) => Uri.UnescapeDataString(text.Replace('+', ' '));

        private void PrintHit(string query)
        {
            var p = ParseQuery(query);
            var title = p.TryGetValue("e_c", out var category)
                ? $"event {category} / {Get(p, "e_a")}" + (p.TryGetValue("e_n", out var name) ? " / " + name : string.Empty)
                : Get(p, "action_name");
            Console.WriteLine($"   -> hit: {title}");

            var details = new List<string>();
            if (p.TryGetValue("cvar", out var cvar))
            {
                var variables = DescribeCustomVariables(cvar);
                details.Add("cvar [" + variables + "]");

                // An HTTP hit's URL is the request's path, not the action: show it.
                if (variables.Contains("kind: http", StringComparison.Ordinal))
                {
                    details.Add("url=" + Get(p, "url"));
                }
            }

            foreach (var (key, value) in p)
            {
                if (!Plumbing.Contains(key) && key is not "cvar" and not "action_name" and not "e_c" and not "e_a" and not "e_n")
                {
                    details.Add($"{key}={value}");
                }
            }

            Console.WriteLine("          " + string.Join("  ", details));
            if (!_rawShown)
            {
                _rawShown = true;
                Console.WriteLine("      the first hit exactly as it would be sent (one entry of a bulk request):");
                Console.WriteLine("      " + query);
            }
        }

        private static readonly HashSet<string> Plumbing = new(StringComparer.Ordinal)
        {
            "idsite", "rec", "apiv", "rand", "url", "ua", "lang", "urlref", "cdt", "bots", "gt_ms", "cid",
        };

        private static string Get(IReadOnlyDictionary<string, string> parameters, string key) =>
            parameters.TryGetValue(key, out var value) ? value : "(none)";

        private static string DescribeCustomVariables(string json)
        {
            // {"1":["status","OK (0)"],"2":["kind","unary"]} -> status: OK (0) | kind: unary
            var text = new StringBuilder();
            using var document = JsonDocument.Parse(json);
            foreach (var slot in document.RootElement.EnumerateObject())
            {
                if (text.Length > 0)
                {
                    text.Append(" | ");
                }

                text.Append(slot.Value[0].GetString()).Append(": ").Append(slot.Value[1].GetString());
            }

            return text.ToString();
        }
    }
}
