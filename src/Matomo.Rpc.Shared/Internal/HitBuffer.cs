using System.Buffers;

namespace Matomo.Rpc.Internal;

/// <summary>
/// The encoded queries of one batch, back to back in one array rented from the shared pool: a hit costs no array of
/// its own, and the bulk body is copied from here. Owned by the <see cref="Batch"/>, which returns the array when the
/// batch is done; a hit read after that throws instead of reading another batch's bytes.
/// </summary>
internal sealed class HitBuffer : IBufferWriter<byte>, IDisposable
{
    private const int InitialSize = 16 * 1024;

    private byte[]? _array;
    private int _written;

    public HitBuffer(int initialSize = InitialSize)
    {
        _array = ArrayPool<byte>.Shared.Rent(initialSize);
    }

    public int Written => _written;

    public ReadOnlySpan<byte> Slice(int offset, int length) =>
        (_array ?? throw new ObjectDisposedException(nameof(HitBuffer), "The batch holding this hit is done.")).AsSpan(offset, length);

    /// <summary>Written bytes to change in place (a length filled in once what follows it is written).</summary>
    public Span<byte> Writable(int offset, int length) =>
        (_array ?? throw new ObjectDisposedException(nameof(HitBuffer))).AsSpan(0, _written).Slice(offset, length);

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0) => Ensure(sizeHint).AsMemory(_written);

    public Span<byte> GetSpan(int sizeHint = 0) => Ensure(sizeHint).AsSpan(_written);

    /// <summary>Forgets what was written after <paramref name="written"/> (a hit whose encoding failed).</summary>
    public void Truncate(int written) => _written = Math.Min(_written, written);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _array, null) is { } array)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    private byte[] Ensure(int sizeHint)
    {
        var array = _array ?? throw new ObjectDisposedException(nameof(HitBuffer));
        var needed = _written + Math.Max(sizeHint, 1);
        if (needed <= array.Length)
        {
            return array;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, array.Length * 2));
        array.AsSpan(0, _written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(array);
        _array = larger;
        return larger;
    }
}
