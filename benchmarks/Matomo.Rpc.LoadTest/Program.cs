using Matomo.Rpc.LoadTest;

// dotnet run -c Release --project benchmarks/Matomo.Rpc.LoadTest [-- --seconds N] [--rounds N] [--quick]
if (args.Contains("--standin"))
{
    // The Matomo stand-in runs in a child process, so that its allocations are not counted as the app's.
    await StandInProcess.RunAsync();
    return 0;
}

if (args.Contains("--greeter"))
{
    // --alternate: one mode's Greeter host in a child process of its own (see GreeterProcess).
    await GreeterProcess.RunChildAsync(args);
    return 0;
}

LoadTestSettings settings;
try
{
    settings = LoadTestSettings.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(LoadTestSettings.Usage);
    return 2;
}

return settings.Alternate ? await AlternatingRunner.RunAsync(settings) : await LoadRunner.RunAsync(settings);
