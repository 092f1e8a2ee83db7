public import Foundation

/// The tokens file: who may call the server, in JSON.
///
/// ```json
/// {
///   "tokens": [
///     {"name": "store-12-pos", "role": "pos", "locations": ["store-12"], "sha256": "<64 hex digits>"},
///     {"name": "web", "role": "storefront", "sha256": "<64 hex digits>", "calls_per_second": 5000}
///   ]
/// }
/// ```
/// `sha256` is the SHA-256 of the token (`omnistock token create` makes a token and its entry);
/// the secret itself is never stored. `locations` is required for `pos` tokens, optional for
/// `sync` tokens (none: every location) and not allowed for other roles. `calls_per_second` is an
/// optional rate limit for the token, over all its connections. Unknown fields are errors, so a
/// typo does not silently widen or narrow access.
public struct TokensFile: Sendable {
  struct Entry: Decodable {
    var name: String
    var role: String
    var locations: [String]?
    var sha256: String
    var callsPerSecond: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
      case name, role, locations, sha256
      case callsPerSecond = "calls_per_second"
    }
  }

  struct Document: Decodable {
    var tokens: [Entry]
  }

  /// The tokens, checked.
  public let tokens: [AccessToken]

  /// Reads and checks `path`. `defaultCallsPerSecond` applies to entries without their own limit.
  public init(path: String, defaultCallsPerSecond: Int? = nil) throws(TokensFileError) {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw TokensFileError(path: path, "cannot read it: \(error.localizedDescription)")
    }
    try self.init(json: data, path: path, defaultCallsPerSecond: defaultCallsPerSecond)
  }

  /// Checks a tokens document (`path` names it in errors).
  public init(json: Data, path: String = "tokens file", defaultCallsPerSecond: Int? = nil) throws(TokensFileError) {
    try Self.rejectUnknownFields(json, path: path)
    let document: Document
    do {
      document = try JSONDecoder().decode(Document.self, from: json)
    } catch {
      throw TokensFileError(path: path, "not a tokens document (\(Self.describe(error)))")
    }
    var names: Set<String> = []
    var digests: Set<[UInt8]> = []
    var tokens: [AccessToken] = []
    for (number, entry) in document.tokens.enumerated() {
      let at = "tokens[\(number)]"
      guard !entry.name.isEmpty, entry.name.utf8.count <= 128 else { throw TokensFileError(path: path, "\(at).name must be 1-128 bytes") }
      guard names.insert(entry.name).inserted else { throw TokensFileError(path: path, "\(at): the name '\(entry.name)' is used twice") }
      guard let role = AccessRole(rawValue: entry.role) else {
        throw TokensFileError(
          path: path, "\(at) ('\(entry.name)'): unknown role '\(entry.role)'; roles are \(AccessRole.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      guard let digest = Self.hexBytes(entry.sha256), digest.count == 32 else {
        throw TokensFileError(path: path, "\(at) ('\(entry.name)').sha256 must be 64 hex digits (the SHA-256 of the token)")
      }
      guard digests.insert(digest).inserted else {
        throw TokensFileError(path: path, "\(at) ('\(entry.name)'): the same token (sha256) appears twice")
      }
      if role == .pos && (entry.locations ?? []).isEmpty {
        throw TokensFileError(path: path, "\(at) ('\(entry.name)'): a pos token must list its locations")
      }
      if !role.isScopedToLocations && entry.locations != nil {
        throw TokensFileError(path: path, "\(at) ('\(entry.name)'): locations apply to pos and sync tokens only, not \(role.rawValue)")
      }
      if let limit = entry.callsPerSecond, !(1...10_000_000).contains(limit) {
        throw TokensFileError(path: path, "\(at) ('\(entry.name)').calls_per_second must be 1...10000000")
      }
      let locations = entry.locations.flatMap { $0.isEmpty ? nil : Set($0) }
      tokens.append(
        AccessToken(
          name: entry.name, role: role, locations: locations, digest: digest,
          callsPerSecond: entry.callsPerSecond ?? defaultCallsPerSecond))
    }
    self.tokens = tokens
  }

  private static func rejectUnknownFields(_ json: Data, path: String) throws(TokensFileError) {
    guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
      throw TokensFileError(path: path, "not a JSON object with a \"tokens\" array")
    }
    for key in object.keys where key != "tokens" { throw TokensFileError(path: path, "unknown field '\(key)'") }
    let known = Set(Entry.CodingKeys.allCases.map(\.rawValue))
    for (number, entry) in (object["tokens"] as? [Any] ?? []).enumerated() {
      for key in (entry as? [String: Any])?.keys ?? [:].keys where !known.contains(key) {
        throw TokensFileError(path: path, "tokens[\(number)]: unknown field '\(key)' (known: \(known.sorted().joined(separator: ", ")))")
      }
    }
  }

  static func hexBytes(_ text: String) -> [UInt8]? {
    let digits = Array(text.lowercased().utf8)
    guard digits.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(digits.count / 2)
    for pair in stride(from: 0, to: digits.count, by: 2) {
      guard let high = hexValue(digits[pair]), let low = hexValue(digits[pair + 1]) else { return nil }
      bytes.append(high << 4 | low)
    }
    return bytes
  }

  private static func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
    default: nil
    }
  }

  private static func describe(_ error: any Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, let context):
      "missing field '\(key.stringValue)' at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
      "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
    case DecodingError.dataCorrupted(let context):
      "invalid JSON: \(context.debugDescription)"
    default:
      "\(error)"
    }
  }
}

/// A tokens file the server cannot use, and why.
public struct TokensFileError: Error, CustomStringConvertible, Sendable {
  public let path: String
  public let reason: String

  init(path: String, _ reason: String) {
    self.path = path
    self.reason = reason
  }

  public var description: String { "tokens file \(path): \(reason)" }
}
