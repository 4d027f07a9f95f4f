using GreeterService;
using GreeterService.Demo;

// `dotnet run --project samples/GreeterService -- --demo` starts the service on free loopback ports, calls every
// method with real clients, prints the Matomo hits and exits. Without --demo it serves until stopped.
if (args.Contains(DemoRunner.Switch, StringComparer.Ordinal))
{
    return await DemoRunner.RunAsync([.. args.Where(a => a != DemoRunner.Switch)]);
}

var app = GreeterApp.Build(args);
await app.RunAsync();
return 0;
