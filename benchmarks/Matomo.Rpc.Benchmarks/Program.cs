using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

// Run all: dotnet run -c Release --project benchmarks/Matomo.Rpc.Benchmarks -- --filter '*'
// A short job by default (CI-friendly, a few minutes on 2 cores); pass --job default (or medium/long) for tighter numbers.
// The spool's CPU per hit, by this thread's CPU time (see SpoolCpuCost): -- --spool-cpu
if (args is ["--spool-cpu"])
{
    Matomo.Rpc.Benchmarks.SpoolCpuCost.Run();
    return;
}

var config = DefaultConfig.Instance;
if (!args.Any(a => a is "--job" or "-j"))
{
    config = config.AddJob(Job.ShortRun.WithId("ShortRun"));
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
