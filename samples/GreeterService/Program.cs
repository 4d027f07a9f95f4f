using GreeterService;
using GreeterService.Demo;

// `dotnet run --project samples/GreeterService -- --demo` starts the service on free loopback ports, calls every
// method with real clients, prints the Matomo hits and exits. Without --demo it serves until stopped.
if (args.Contains(DemoRunner.Switch, StringComparer.Ordinal))
{
    return await DemoRunner.RunAsync([.. args.Where(a => a != DemoRunner.Switch)]);
}

// `dotnet run --project samples/GreeterService -- --check-matomo` asks the configured Matomo whether it will keep what
// this service sends (site, token rights, custom dimensions, CustomVariables plugin), prints the report and exits 1
// when something will be lost.
if (args.Contains("--check-matomo", StringComparer.Ordinal))
{
    var checkApp = GreeterApp.Build([.. args.Where(a => a != "--check-matomo")], builder => builder.Logging.AddFilter("Matomo.Rpc", LogLevel.None).AddFilter("System.Net.Http.HttpClient.Matomo.Rpc", LogLevel.None));
    var report = await checkApp.Services.GetRequiredService<Matomo.Rpc.MatomoSiteCheck>().RunAsync();
    Console.WriteLine(report);
    return report.LosesData ? 1 : 0;
}

var app = GreeterApp.Build(args);
await app.RunAsync();
return 0;
