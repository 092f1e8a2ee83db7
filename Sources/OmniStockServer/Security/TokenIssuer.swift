import Crypto
import Foundation

/// Makes tokens and their tokens-file entries (`omnistock token create`).
///
/// A token is `omst_` followed by 32 random bytes (from the system's secure generator) in base64url:
/// 256 bits, which no one guesses. The file keeps only its SHA-256.
public enum TokenIssuer {
  /// A new random token.
  public static func newToken() -> String {
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    let base64 = Data(bytes).base64EncodedString()
      .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    return "omst_" + base64
  }

  /// The SHA-256 of `token`, as the tokens file stores it (64 lowercase hex digits).
  public static func sha256Hex(_ token: String) -> String {
    SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
  }

  /// The tokens-file entry for `token` (one JSON object), checked as the server would.
  public static func entry(
    name: String, role: AccessRole, locations: [String], callsPerSecond: Int?, token: String
  ) throws(TokensFileError) -> String {
    var object: [String: Any] = ["name": name, "role": role.rawValue, "sha256": sha256Hex(token)]
    if !locations.isEmpty { object["locations"] = locations }
    if let callsPerSecond { object["calls_per_second"] = callsPerSecond }
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
      throw TokensFileError(path: "entry", "cannot encode the entry")
    }
    // The same checks as loading a file with this one entry.
    _ = try TokensFile(json: Data("{\"tokens\": [".utf8) + data + Data("]}".utf8), path: "the new entry")
    return String(decoding: data, as: UTF8.self)
  }
}
