#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin, throwing wrappers over the POSIX calls the log needs. Every failure names the file and
/// the call, with `errno`'s text.
enum FileIO {
  static func failure(_ call: String, _ path: String) -> LogFailure {
    LogFailure("\(call) '\(path)' failed: \(String(cString: strerror(errno)))")
  }

  static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(LogFailure) -> Int32 {
    let descriptor = Glibc.open(path, flags | O_CLOEXEC, mode)
    guard descriptor >= 0 else { throw failure("open", path) }
    return descriptor
  }

  static func size(_ descriptor: Int32, path: String) throws(LogFailure) -> Int {
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw failure("fstat", path) }
    return Int(info.st_size)
  }

  static func readAll(_ path: String) throws(LogFailure) -> [UInt8] {
    let descriptor = try open(path, flags: O_RDONLY)
    defer { close(descriptor) }
    let count = try size(descriptor, path: path)
    var bytes = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
      let result = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(done)) }
      if result < 0 && errno == EINTR { continue }
      guard result > 0 else { throw failure("read", path) }
      done += result
    }
    return bytes
  }

  /// Reads exactly `count` bytes at `offset`.
  static func read(_ descriptor: Int32, count: Int, at offset: Int, path: String) throws(LogFailure) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
      let result = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset + done)) }
      if result < 0 && errno == EINTR { continue }
      guard result > 0 else { throw failure("read", path) }
      done += result
    }
    return bytes
  }

  static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(LogFailure) {
    var done = 0
    while done < bytes.count {
      let result = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
      if result < 0 && errno == EINTR { continue }
      guard result > 0 else { throw failure("write", path) }
      done += result
    }
  }

  static func dataSync(_ descriptor: Int32, path: String) throws(LogFailure) {
    guard fdatasync(descriptor) == 0 else { throw failure("fdatasync", path) }
  }

  static func syncDirectory(_ path: String) throws(LogFailure) {
    let descriptor = try open(path, flags: O_RDONLY | O_DIRECTORY)
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else { throw failure("fsync", path) }
  }

  static func rename(_ from: String, _ to: String) throws(LogFailure) {
    guard Glibc.rename(from, to) == 0 else { throw failure("rename to '\(to)'", from) }
  }

  static func unlink(_ path: String) throws(LogFailure) {
    guard Glibc.unlink(path) == 0 || errno == ENOENT else { throw failure("unlink", path) }
  }

  /// Makes the file `bytes` long, with the new space allocated and reading as zeros.
  static func preallocate(_ descriptor: Int32, bytes: Int, path: String) throws(LogFailure) {
    let result = posix_fallocate(descriptor, 0, off_t(bytes))
    if result != 0 {
      // Filesystems without fallocate support: extend with ftruncate (zeros, maybe sparse).
      guard ftruncate(descriptor, off_t(bytes)) == 0 else { throw failure("ftruncate", path) }
    }
  }

  static func truncate(_ descriptor: Int32, bytes: Int, path: String) throws(LogFailure) {
    guard ftruncate(descriptor, off_t(bytes)) == 0 else { throw failure("ftruncate", path) }
  }

  static func makeDirectory(_ path: String) throws(LogFailure) {
    guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw failure("mkdir", path) }
  }

  static func list(_ path: String) throws(LogFailure) -> [String] {
    guard let directory = opendir(path) else { throw failure("opendir", path) }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
  }

  static func nowUnixMs() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
  }
}
