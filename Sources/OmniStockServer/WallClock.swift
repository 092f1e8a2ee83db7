#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The server's wall clock, in Unix milliseconds (the unit of every `_unix_ms` field).
public enum WallClock {
  /// Milliseconds since the Unix epoch, now.
  public static func nowUnixMs() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
  }
}
