#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GRPCNGHTTP2
public import OmniStockAPI
import StockIndex
import SwiftProtobuf

/// The locations-and-groups file the server loads at start (`omnistock serve --locations FILE`):
/// an `omnistock.config.v1.LocationNetwork` in proto3 JSON (proto/omnistock/config/v1/network.proto;
/// `examples/network.json` is a complete example, written by `tools/make-example-network.py`).
///
/// Guarantees: a network returned by ``load(path:)`` is fully valid as a whole, so declaring its
/// locations and then its groups (in file order) passes the Admin API's checks, except for the
/// server's capacity limits on what it already holds:
/// - every location passes the `UpsertLocation` rules (id, kind, display name, safety stock,
///   thresholds, `stale_after_seconds`, coordinates, capabilities);
/// - no two locations share a `location_id`, and no two groups share a `group_id`;
/// - every group passes the `UpsertGroup` rules (id, display name, at most 10,000 members, no
///   member listed twice), and every member is a location declared in the same file.
///
/// Anything else throws a ``NetworkFileError`` naming the file and every problem found (up to
/// ``maxReportedProblems``). Unknown JSON fields are errors, not ignored, so a misspelt field name
/// cannot silently fall back to its default. Note proto3 semantics: a location without
/// `"active": true` is declared inactive. Output-only fields (`createdAtUnixMs`, `updatedAtUnixMs`,
/// `lsn`) are accepted and left as read; the server sets them when it declares the records.
public enum NetworkFile {
  /// At most this many problems are listed in one error; the rest are counted.
  public static let maxReportedProblems = 20

  /// Reads, decodes and validates the network file at `path`.
  public static func load(path: String) throws(NetworkFileError) -> Omnistock_Config_V1_LocationNetwork {
    let bytes = try contents(of: path)
    let network = try decode(bytes, path: path)
    let problems = Self.problems(in: network)
    guard problems.isEmpty else {
      var reported = Array(problems.prefix(maxReportedProblems))
      if problems.count > maxReportedProblems {
        reported.append("... and \(problems.count - maxReportedProblems) more problems")
      }
      throw NetworkFileError(path: path, problems: reported)
    }
    return network
  }

  // MARK: - Reading

  static func contents(of path: String) throws(NetworkFileError) -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw NetworkFileError(path: path, "cannot open the network file: \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
      if count == 0 { return bytes }
      if count < 0 {
        if errno == EINTR { continue }
        throw NetworkFileError(path: path, "cannot read the network file: \(String(cString: strerror(errno)))")
      }
      bytes.append(contentsOf: chunk[0..<count])
    }
  }

  // MARK: - Decoding

  static func decode(_ bytes: [UInt8], path: String) throws(NetworkFileError) -> Omnistock_Config_V1_LocationNetwork {
    do {
      return try Omnistock_Config_V1_LocationNetwork(jsonUTF8Bytes: bytes)
    } catch let error as JSONDecodingError {
      let words = describe(error)
      if isSyntaxError(error) {
        throw NetworkFileError(path: path, "not valid JSON: \(words)")
      }
      let place = locate(error, in: bytes).map { "\($0): " } ?? ""
      throw NetworkFileError(path: path, "not a valid location network: \(place)\(words)")
    } catch {
      throw NetworkFileError(path: path, "cannot decode the network file: \(error)")
    }
  }

  /// Errors in the JSON text itself, as opposed to valid JSON that does not fit the schema.
  static func isSyntaxError(_ error: JSONDecodingError) -> Bool {
    switch error {
    case .failure, .malformedNumber, .malformedString, .malformedBool, .invalidUTF8, .unquotedMapKey,
      .leadingZero, .truncated, .trailingGarbage:
      true
    default:
      false
    }
  }

  /// SwiftProtobuf's JSON decoding error in words.
  static func describe(_ error: JSONDecodingError) -> String {
    switch error {
    case .failure: "unexpected character or token (a missing or extra comma, quote or bracket?)"
    case .malformedNumber: "a number is malformed"
    case .numberRange: "a number is out of range, or not a whole number where one is required"
    case .malformedMap: "a map is malformed"
    case .malformedBool: "a value must be true or false"
    case .malformedString: "expected a quoted string, or a string has a bad backslash escape"
    case .invalidUTF8: "the file is not valid UTF-8"
    case .missingFieldNames: "the generated code lacks field names (a build problem, not a file problem)"
    case .schemaMismatch:
      "a value has the wrong type for its field (for example a single value where a list belongs, or an object where a string belongs)"
    case .unrecognizedEnumValue:
      "an enum value is not recognised (kind: LOCATION_KIND_STORE, LOCATION_KIND_DARK_STORE, LOCATION_KIND_WAREHOUSE, "
        + "LOCATION_KIND_THIRD_PARTY_LOGISTICS or LOCATION_KIND_DROPSHIP_VENDOR; capabilities: "
        + "FULFILLMENT_CAPABILITY_SHIP, FULFILLMENT_CAPABILITY_PICKUP or FULFILLMENT_CAPABILITY_SAME_DAY)"
    case .illegalNull: "null is not allowed here (for example inside a list); leave the field out instead"
    case .unquotedMapKey: "an object key is not quoted"
    case .leadingZero: "a number has a leading zero"
    case .truncated: "the file ends too early (an unclosed '{', '[' or string?)"
    case .malformedDuration, .malformedTimestamp, .malformedFieldMask: "a value is malformed"
    case .trailingGarbage: "there is more text after the end of the top-level object"
    case .conflictingOneOf: "two values were given for the same oneof"
    case .messageDepthLimit: "objects are nested too deeply"
    case .unknownField(let name):
      "unknown field '\(name)' (field names are as in proto/omnistock/config/v1/network.proto and "
        + "omnistock/v1/admin.proto, in lowerCamelCase or as written there, e.g. \"locationId\" or \"location_id\")"
    @unknown default: "\(error)"
    }
  }

  /// Finds the `locations[i]` or `groups[i]` entry that fails to decode the same way as the whole
  /// document did, by decoding the entries one by one; `nil` if no single entry explains it.
  static func locate(_ error: JSONDecodingError, in bytes: [UInt8]) -> String? {
    guard let document = try? Google_Protobuf_Value(jsonUTF8Bytes: bytes) else { return nil }
    guard case .structValue(let root)? = document.kind else {
      return "the top level must be a JSON object with \"locations\" and \"groups\""
    }
    let expected = describe(error)
    func failing<Entry: SwiftProtobuf.Message>(_ key: String, as type: Entry.Type, idFields: [String]) -> String? {
      guard case .listValue(let list)? = root.fields[key]?.kind else { return nil }
      for (position, entry) in list.values.enumerated() {
        let json: [UInt8]
        do { json = try entry.jsonUTF8Bytes() } catch { continue }
        do {
          _ = try Entry(jsonUTF8Bytes: json)
        } catch let entryError as JSONDecodingError where describe(entryError) == expected {
          let id = idFields.lazy.compactMap { field -> String? in
            guard case .structValue(let object)? = entry.kind,
              case .stringValue(let id)? = object.fields[field]?.kind
            else { return nil }
            return id
          }.first
          return id.map { "\(key)[\(position)] ('\($0)')" } ?? "\(key)[\(position)]"
        } catch {}
      }
      return nil
    }
    return failing("locations", as: Omnistock_V1_Location.self, idFields: ["locationId", "location_id"])
      ?? failing("groups", as: Omnistock_V1_LocationGroup.self, idFields: ["groupId", "group_id"])
  }

  // MARK: - Validation

  /// Every problem with a decoded network, in file order; empty if it is valid.
  static func problems(in network: Omnistock_Config_V1_LocationNetwork) -> [String] {
    var problems: [String] = []

    if network.locations.count > StockIndex.maxLocations {
      problems.append("declares \(network.locations.count) locations; the server holds at most \(StockIndex.maxLocations)")
    }
    if network.groups.count > StockIndex.maxGroups {
      problems.append("declares \(network.groups.count) groups; the server holds at most \(StockIndex.maxGroups)")
    }

    var locationPositions: [String: Int] = [:]
    for (position, location) in network.locations.enumerated() {
      let id = location.locationID
      let label = Self.label(kind: "location", id: id, field: "location_id", list: "locations", position: position)
      do throws(GRPCStatus) {
        try LocationDirectory.validate(location)
      } catch {
        problems.append("\(label): \(error.message)")
      }
      if let first = locationPositions[id] {
        problems.append("location id '\(id)' is declared twice (locations[\(first)] and locations[\(position)])")
      } else {
        locationPositions[id] = position
      }
    }

    var groupPositions: [String: Int] = [:]
    for (position, group) in network.groups.enumerated() {
      let id = group.groupID
      let label = Self.label(kind: "group", id: id, field: "group_id", list: "groups", position: position, withPosition: false)
      if let problem = IdentifierRules.problem(with: id, field: "group_id") {
        problems.append("\(label): \(problem)")
      } else if let first = groupPositions[id] {
        problems.append("group id '\(id)' is declared twice (groups[\(first)] and groups[\(position)])")
      } else {
        groupPositions[id] = position
      }
      if group.displayName.utf8.count > LocationDirectory.maxDisplayNameBytes {
        problems.append("\(label): display_name is longer than \(LocationDirectory.maxDisplayNameBytes) bytes")
      }
      if group.locationIds.count > LocationDirectory.maxGroupMembers {
        problems.append(
          "\(label): a group has at most \(LocationDirectory.maxGroupMembers) members; it lists \(group.locationIds.count)")
      }
      var members: Set<String> = []
      var repeated: [String] = []
      for member in group.locationIds {
        if !members.insert(member).inserted {
          if !repeated.contains(member) { repeated.append(member) }
        } else if locationPositions[member] == nil {
          problems.append(
            "\(label) names unknown location '\(member)'; declare it under \"locations\" or remove it from the group")
        }
      }
      for member in repeated {
        problems.append("\(label) lists location '\(member)' more than once")
      }
    }
    return problems
  }

  /// `location 'store-nyc-001' (locations[3])` or `group 'pickup-nyc'`; `locations[3]` when the
  /// id itself is malformed.
  private static func label(
    kind: String, id: String, field: String, list: String, position: Int, withPosition: Bool = true
  ) -> String {
    guard IdentifierRules.problem(with: id, field: field) == nil else { return "\(list)[\(position)]" }
    return withPosition ? "\(kind) '\(id)' (\(list)[\(position)])" : "\(kind) '\(id)'"
  }
}
