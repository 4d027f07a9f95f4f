using Matomo.Rpc.Capacity;

// benchmarks/capacity.sh [--quick]: brings the Matomo kit up, runs this program against it directly and with
// QueuedTracking, and stops the kit. Alone: dotnet run -c Release --project benchmarks/Matomo.Rpc.Capacity [-- --quick]
// with the kit's MATOMO_* variables exported.
CapacitySettings settings;
try
{
    settings = CapacitySettings.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(CapacitySettings.Usage);
    return 2;
}

if (settings.TableOnly)
{
    Console.WriteLine(CapacityReport.Table(await File.ReadAllTextAsync(settings.Output)));
    return 0;
}

return await CapacityRunner.RunAsync(settings);
