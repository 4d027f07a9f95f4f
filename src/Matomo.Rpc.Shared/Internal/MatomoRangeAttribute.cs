using System.ComponentModel.DataAnnotations;

namespace Matomo.Rpc.Internal;

/// <summary>
/// <see cref="RangeAttribute"/> whose <see cref="ValidationAttribute.ErrorMessage"/> is honoured by the options
/// validator generator: for <see cref="RangeAttribute"/> itself it emits a copy that always writes the generic
/// "The field X must be between" text (dotnet/runtime#123137), losing the key and the fix our messages name.
/// </summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
internal sealed class MatomoRangeAttribute : RangeAttribute
{
    public MatomoRangeAttribute(int minimum, int maximum)
        : base(minimum, maximum)
    {
    }
}
