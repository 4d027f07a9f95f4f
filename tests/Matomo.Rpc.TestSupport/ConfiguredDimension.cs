namespace Matomo.Rpc.TestSupport;

/// <summary>A custom dimension configured on the stand-in's site (plugin CustomDimensions).</summary>
/// <param name="Id">The id used in <c>dimension{Id}</c>.</param>
/// <param name="Index">The storage index within its scope.</param>
/// <param name="Scope"><c>action</c> or <c>visit</c>.</param>
/// <param name="Active">Inactive dimensions store nothing.</param>
/// <param name="Name">Display name.</param>
public sealed record ConfiguredDimension(int Id, int Index, string Scope = "action", bool Active = true, string? Name = null);
