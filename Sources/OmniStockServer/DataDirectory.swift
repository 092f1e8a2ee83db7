import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The server's data directory: created if missing, and locked (an exclusive `flock` on `LOCK`)
/// for the life of the process so two servers can never write the same data.
public final class DataDirectory: Sendable {
  /// Why the directory cannot be used.
  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  /// The directory's path as given.
  public let path: String
  private let lockDescriptor: Mutex<Int32>

  /// Creates the directory (and parents) if needed and takes its lock.
  public init(path: String) throws(Failure) {
    self.path = path
    var partial = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
      partial += "/" + component
      if mkdir(partial, 0o755) != 0 && errno != EEXIST {
        throw Failure(description: "cannot create data directory '\(partial)': \(String(cString: strerror(errno)))")
      }
    }
    let lockPath = path + "/LOCK"
    let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw Failure(description: "cannot open '\(lockPath)': \(String(cString: strerror(errno)))")
    }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      close(descriptor)
      throw Failure(
        description: "data directory '\(path)' is in use by another omnistock process (its LOCK is held); "
          + "stop that server or choose another --data-dir")
    }
    lockDescriptor = Mutex(descriptor)
  }

  /// Releases the lock (also done when the object goes away), so another server may open the
  /// directory; for a server that has stopped.
  public func release() {
    lockDescriptor.withLock { descriptor in
      if descriptor >= 0 { close(descriptor) }
      descriptor = -1
    }
  }

  deinit { release() }
}
