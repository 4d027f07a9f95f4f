namespace Matomo.Rpc.Shared.Tests;

/// <summary>A fixture on the sender's parts (<see cref="SenderParts"/>): made by <see cref="Arrange"/>, disposed after each test.</summary>
public abstract class SenderPartsFixture
{
    private SenderParts? _parts;

    private protected SenderParts Parts => _parts ?? throw new InvalidOperationException("Arrange the parts first.");

    [TearDown]
    public void DisposeParts()
    {
        _parts?.Dispose();
        _parts = null;
    }

    private protected void Arrange(bool withSpool = false) => _parts = new SenderParts(withSpool);
}
