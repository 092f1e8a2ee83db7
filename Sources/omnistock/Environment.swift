#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads `OMNISTOCK_*` environment variables, the equivalents of the command-line flags.
enum Environment {
  static func string(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
  }

  static func int(_ name: String) -> Int? {
    string(name).flatMap { Int($0) }
  }

  static func flag(_ name: String) -> Bool {
    guard let value = string(name)?.lowercased() else { return false }
    return ["1", "true", "yes", "on"].contains(value)
  }
}
