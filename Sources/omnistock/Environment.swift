#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads `OMNISTOCK_*` environment variables, the equivalents of the command-line flags, and
/// below them the configuration file's values (see ``ConfigurationFile``).
enum Environment {
  static func string(_ name: String) -> String? {
    if let value = getenv(name) { return String(cString: value) }
    if case .success(let file) = ConfigurationFile.current { return file.value(forEnvironmentName: name) }
    return nil
  }

  static func int(_ name: String) -> Int? {
    string(name).flatMap { Int($0) }
  }

  static func flag(_ name: String) -> Bool {
    guard let value = string(name)?.lowercased() else { return false }
    return ["1", "true", "yes", "on"].contains(value)
  }
}
