using System.Collections;

namespace Matomo.Rpc.LoadTest;

/// <summary>
/// Where the in-memory exporter puts exported activities: counted, not kept, so that an exporter that retained
/// hundreds of thousands of activities does not burden the garbage collector (Matomo.Rpc keeps no hit either).
/// </summary>
internal sealed class CountingCollection<T> : ICollection<T>
{
    private long _count;

    public long Total => Interlocked.Read(ref _count);

    public int Count => (int)Math.Min(int.MaxValue, Total);

    public bool IsReadOnly => false;

    public void Add(T item) => Interlocked.Increment(ref _count);

    public void Clear() => Interlocked.Exchange(ref _count, 0);

    public bool Contains(T item) => false;

    public void CopyTo(T[] array, int arrayIndex)
    {
    }

    public bool Remove(T item) => false;

    public IEnumerator<T> GetEnumerator() => Enumerable.Empty<T>().GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
