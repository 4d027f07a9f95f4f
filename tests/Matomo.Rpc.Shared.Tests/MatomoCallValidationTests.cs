using Matomo.Rpc.TestSupport;
namespace Matomo.Rpc.Shared.Tests;

public class MatomoCallValidationTests
{
    [TestCaseSource(typeof(ReservedNames), nameof(ReservedNames.PerCall))]
    [TestCase("")]
    public void UntrackedSetVar_RefusedName_ThrowsArgumentException(string name)
    {
        Assert.That(() => MatomoCall.Untracked.SetVar(name, "x"), Throws.ArgumentException);
    }

    [TestCase("cid", "not-hex")]
    [TestCase("pf_srv", "12.5")]
    public void UntrackedSetVar_RefusedValue_ThrowsArgumentException(string name, string value)
    {
        Assert.That(() => MatomoCall.Untracked.SetVar(name, value), Throws.ArgumentException);
    }

    [TestCase("dimension1", "v")]
    [TestCase("e_c", "Orders")]
    [TestCase("cid", "0123456789abcdef")]
    [TestCase("uid", null)]
    public void UntrackedSetVar_AcceptedNameAndValue_DoesNotThrow(string name, string? value)
    {
        Assert.That(() => MatomoCall.Untracked.SetVar(name, value), Throws.Nothing);
    }

    [Test]
    public void UntrackedSetVar_NullName_ThrowsArgumentNullException()
    {
        Assert.That(() => MatomoCall.Untracked.SetVar(null!, "x"), Throws.ArgumentNullException);
    }

    [TestCase("pf_srv", false)]
    [TestCase("pf_dm1", false)]
    [TestCase("srv", true)]
    [TestCase("idsite", true)]
    public void UntrackedMeasurePerf_Name_ThrowsOnlyForNonPerfNames(string name, bool throws)
    {
        Assert.That(() => MatomoCall.Untracked.MeasurePerf(name), throws ? Throws.ArgumentException : Throws.Nothing);
    }
}
