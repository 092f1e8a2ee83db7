import Foundation

/// The optional configuration file of `omnistock serve` (`--config FILE` or `OMNISTOCK_CONFIG`):
/// a JSON object whose keys are the long flag names and whose values are what the flag would say.
///
/// ```json
/// {"host": "0.0.0.0", "port": 8980, "data-dir": "/var/lib/omnistock", "tokens": "/etc/omnistock/tokens.json",
///  "tls-cert": "/etc/omnistock/chain.pem", "tls-key": "/etc/omnistock/key.pem", "metrics-port": 9090}
/// ```
///
/// Precedence, highest first: the command line, the `OMNISTOCK_*` environment variable, this file,
/// the built-in default. The file is found before the command line is parsed (flag defaults are
/// computed first), by looking for `--config` in the arguments; a file that cannot be used is
/// reported by `serve`'s validation with the reason, and nothing starts.
struct ConfigurationFile {
  /// Flag name (without dashes) -> value, as text.
  let values: [String: String]
  let path: String

  /// The file named on the command line or in `OMNISTOCK_CONFIG`, loaded once; `nil` if none.
  static let current: Result<ConfigurationFile, ConfigurationFileError>? = {
    guard let path = pathFromArguments(CommandLine.arguments) ?? ProcessInfo.processInfo.environment["OMNISTOCK_CONFIG"] else {
      return nil
    }
    return Result { () throws(ConfigurationFileError) in try ConfigurationFile(path: path) }
  }()

  /// The value of `--config` (or `--config=`) in `arguments`.
  static func pathFromArguments(_ arguments: [String]) -> String? {
    for (index, argument) in arguments.enumerated() {
      if argument == "--config", index + 1 < arguments.count { return arguments[index + 1] }
      if argument.hasPrefix("--config=") { return String(argument.dropFirst("--config=".count)) }
    }
    return nil
  }

  init(path: String) throws(ConfigurationFileError) {
    self.path = path
    let settings: [String: Setting]
    do {
      settings = try JSONDecoder().decode([String: Setting].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    } catch let error as DecodingError {
      throw ConfigurationFileError(
        path: path, reason: "expected a JSON object of flag names to strings, numbers or true/false (\(error))")
    } catch {
      throw ConfigurationFileError(path: path, reason: "cannot read it: \(error.localizedDescription)")
    }
    let values = settings.mapValues(\.text)
    self.values = values
  }

  /// The file's value for the flag whose environment variable is `environmentName`
  /// (`OMNISTOCK_DATA_DIR` <- `data-dir`).
  func value(forEnvironmentName environmentName: String) -> String? {
    guard environmentName.hasPrefix("OMNISTOCK_") else { return nil }
    let key = environmentName.dropFirst("OMNISTOCK_".count).lowercased().replacingOccurrences(of: "_", with: "-")
    return values[key]
  }

  /// Keys that name no flag of `serve` (typos), given the flags' names.
  func unknownKeys(known: Set<String>) -> [String] {
    values.keys.filter { !known.contains($0) }.sorted()
  }
}

/// One value of the file: what the flag would say, as text.
private struct Setting: Decodable {
  let text: String

  init(from decoder: any Decoder) throws {
    let value = try decoder.singleValueContainer()
    if let flag = try? value.decode(Bool.self) {
      text = flag ? "true" : "false"
    } else if let number = try? value.decode(Int.self) {
      text = String(number)
    } else if let number = try? value.decode(Double.self) {
      text = String(number)
    } else {
      text = try value.decode(String.self)
    }
  }
}

/// A configuration file that cannot be used, and why.
struct ConfigurationFileError: Error, CustomStringConvertible {
  let path: String
  let reason: String
  var description: String { "configuration file \(path): \(reason)" }
}
