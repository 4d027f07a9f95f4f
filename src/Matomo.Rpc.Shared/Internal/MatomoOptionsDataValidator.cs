using Microsoft.Extensions.Options;

namespace Matomo.Rpc.Internal;

/// <summary>Checks the range attributes of <see cref="MatomoOptions"/> (generated at build time).</summary>
[OptionsValidator]
internal sealed partial class MatomoOptionsDataValidator : IValidateOptions<MatomoOptions>
{
}
