namespace Matomo.Rpc.Shared.Tests;

public class MatomoCallValidationTests
{
    [TestCase("idsite")]
    [TestCase("rec")]
    [TestCase("apiv")]
    [TestCase("token_auth")]
    [TestCase("cip")]
    [TestCase("cdt")]
    [TestCase("send_image")]
    [TestCase("rand")]
    [TestCase("cvar")]
    [TestCase("ca")]
    [TestCase("")]
    public void ValidateVar_RefusedName_ThrowsArgumentException(string name)
    {
        Assert.That(() => MatomoCall.ValidateVar(name, "x"), Throws.ArgumentException);
    }

    [TestCase("cid", "not-hex")]
    [TestCase("pf_srv", "12.5")]
    public void ValidateVar_RefusedValue_ThrowsArgumentException(string name, string value)
    {
        Assert.That(() => MatomoCall.ValidateVar(name, value), Throws.ArgumentException);
    }

    [TestCase("dimension1", "v")]
    [TestCase("e_c", "Orders")]
    [TestCase("cid", "0123456789abcdef")]
    [TestCase("uid", null)]
    public void ValidateVar_AcceptedNameAndValue_DoesNotThrow(string name, string? value)
    {
        Assert.That(() => MatomoCall.ValidateVar(name, value), Throws.Nothing);
    }

    [Test]
    public void ValidateVar_NullName_ThrowsArgumentNullException()
    {
        Assert.That(() => MatomoCall.ValidateVar(null!, "x"), Throws.ArgumentNullException);
    }

    [TestCase("pf_srv", false)]
    [TestCase("pf_dm1", false)]
    [TestCase("srv", true)]
    [TestCase("idsite", true)]
    public void ValidatePerfName_Name_ThrowsOnlyForNonPerfNames(string name, bool throws)
    {
        Assert.That(() => MatomoCall.ValidatePerfName(name), throws ? Throws.ArgumentException : Throws.Nothing);
    }
}
