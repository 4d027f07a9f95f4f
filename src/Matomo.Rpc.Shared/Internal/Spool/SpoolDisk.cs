using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Matomo.Rpc.Internal.Spool;

/// <summary>
/// The spool directory's files on disk: their names, durable writes, whole-file reads, the directory's lock and the
/// probe that it can be written. No state and no logging: the store decides what a failure means.
/// </summary>
internal static class SpoolDisk
{
    public const string FileExtension = ".spool";
    public const string TempExtension = ".tmp";
    public const string BadExtension = ".bad";
    public const string LockFileName = ".lock";
    private const string ProbeFileName = ".probe";

    /// <summary>The exceptions that mean the directory or a file in it cannot be used (and nothing worse).</summary>
    public static bool IsIoProblem(Exception ex) => ex is IOException or UnauthorizedAccessException;

    /// <summary>The path of the batch file with <paramref name="sequence"/>.</summary>
    public static string PathOf(string directory, long sequence) => NameOf(directory, sequence, FileExtension);

    /// <summary>The path a batch file with <paramref name="sequence"/> is written to before its rename.</summary>
    public static string TempPathOf(string directory, long sequence) => NameOf(directory, sequence, TempExtension);

    /// <summary>
    /// Readies <paramref name="directory"/> for a store: creates it, takes its lock (<see cref="TakeLock"/>: a conflict
    /// throws) and checks that a file can be written in it. False, with the failed step and its exception, when it
    /// cannot be used; <paramref name="directoryLock"/> is set once taken, whatever comes after.
    /// </summary>
    public static bool TryPrepare(
        string directory, out FileStream? directoryLock, [NotNullWhen(false)] out string? problem, out Exception? exception)
    {
        directoryLock = null;
        var step = "the directory cannot be created: ";
        try
        {
            CreateDirectory(directory);
            step = "its lock file cannot be opened: ";
            directoryLock = TakeLock(directory);

            // Find out now, not during the next outage, that nothing can be written here.
            step = "a file cannot be written in it: ";
            Probe(directory);
        }
        catch (Exception ex) when (IsIoProblem(ex))
        {
            problem = step + ex.Message;
            exception = ex;
            return false;
        }

        problem = null;
        exception = null;
        return true;
    }

    /// <summary>Creates <paramref name="directory"/> if missing (on Unix readable by the app's user only).</summary>
    public static void CreateDirectory(string directory)
    {
        if (!OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        else
        {
            Directory.CreateDirectory(directory);
        }
    }

    /// <summary>
    /// Takes the exclusive lock on <paramref name="directory"/>'s lock file, held until the stream is disposed. Throws
    /// <see cref="InvalidOperationException"/> when another store holds it, other I/O exceptions as they come.
    /// </summary>
    public static FileStream TakeLock(string directory)
    {
        var lockPath = Path.Combine(directory, LockFileName);
        try
        {
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException ex) when (IsLockConflict(ex, lockPath))
        {
            throw new InvalidOperationException(
                $"Matomo:Spool:Directory '{directory}' is in use by another Matomo.Rpc tracker (it holds the lock on '{lockPath}'). Two processes sharing a spool would send its hits twice: give each process its own directory, e.g. one that includes the instance name.",
                ex);
        }
    }

    /// <summary>Writes and deletes an empty file in <paramref name="directory"/>: throws when nothing can be written there.</summary>
    public static void Probe(string directory)
    {
        var probe = Path.Combine(directory, ProbeFileName);
        WriteDurably(probe, [], FileMode.Create);
        File.Delete(probe);
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> durably to <paramref name="temp"/> and renames it to <paramref name="path"/>
    /// (replacing it when <paramref name="replace"/>): a reader never sees half a file. On an I/O failure the temporary
    /// file is removed and the exception rethrown.
    /// </summary>
    public static void WriteAtomically(string temp, string path, ReadOnlySpan<byte> bytes, bool replace, Action<string>? afterTemporaryWritten = null)
    {
        try
        {
            WriteDurably(temp, bytes, replace ? FileMode.Create : FileMode.CreateNew);
            afterTemporaryWritten?.Invoke(temp);
            File.Move(temp, path, overwrite: replace);
        }
        catch (Exception ex) when (IsIoProblem(ex))
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> and flushes them to disk (fsync).</summary>
    public static void WriteDurably(string path, ReadOnlySpan<byte> bytes, FileMode mode)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
        {
            // Hits carry callers' addresses and ids: only the app's user reads them.
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>A whole file in an array rented from the shared pool (returned by the caller), and its length.</summary>
    public static (byte[] Data, int Length) ReadPooled(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        // A longer file cannot be one (its checks then fail on the bytes read, and it is moved aside).
        var length = (int)Math.Min(stream.Length, SpoolFormat.MaxFileBytes + 1);
        var data = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        try
        {
            var read = stream.ReadAtLeast(data.AsSpan(0, length), length, throwOnEndOfStream: false);
            return (data, read);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(data);
            throw;
        }
    }

    /// <summary>The first <see cref="SpoolFormat.HeaderSize"/> bytes of <paramref name="path"/> (fewer when it is shorter), and its length.</summary>
    public static ReadOnlySpan<byte> ReadHeader(string path, out long length)
    {
        var header = new byte[SpoolFormat.HeaderSize];
        int read;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None))
        {
            length = stream.Length;
            read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        }

        return header.AsSpan(0, read);
    }

    /// <summary>Splits a file name into its sequence and extension (from the first dot); false when it has no sequence.</summary>
    public static bool TryParseSequence(string name, out long sequence, out string extension)
    {
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        extension = dot < 0 ? string.Empty : name[dot..];
        return long.TryParse(dot < 0 ? name : name[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out sequence);
    }

    /// <summary>Deletes <paramref name="path"/>; false when it could not be deleted.</summary>
    public static bool TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return true;
        }
        catch (Exception ex) when (IsIoProblem(ex))
        {
            return false;
        }
    }

    private static bool IsLockConflict(IOException ex, string lockPath)
    {
        // The lock is taken with FileShare.None: a sharing violation (Windows: ERROR_SHARING_VIOLATION 32; Unix: the
        // flock EWOULDBLOCK, 11 on Linux and 35 on macOS) when another handle holds it.
        const int SharingViolation = unchecked((int)0x80070020);
        return ex.HResult is SharingViolation or 32 or 11 or 35 && File.Exists(lockPath);
    }

    private static string NameOf(string directory, long sequence, string extension) =>
        Path.Combine(directory, sequence.ToString("D19", CultureInfo.InvariantCulture) + extension);
}
