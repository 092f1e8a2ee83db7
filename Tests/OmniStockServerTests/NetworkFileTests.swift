import Foundation
import OmniStockAPI
import OmniStockServer
import Testing

/// The network file (`--locations FILE`): the shipped example loads, and every kind of mistake is
/// rejected with a message naming the file and what is wrong.
@Suite("Network file")
struct NetworkFileTests {
  /// `examples/network.json`, found from this file's path (Tests/OmniStockServerTests/ -> repo root).
  static let examplePath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("examples/network.json").path

  /// Writes `contents` to `name` in a fresh temporary directory, runs `body` with its path, and
  /// removes the directory.
  func withFile<T>(_ contents: String, name: String = "network.json", _ body: (String) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("omnistock-network-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent(name).path
    try contents.write(toFile: path, atomically: true, encoding: .utf8)
    return try body(path)
  }

  /// The error `NetworkFile.load` throws for `contents`; fails the test if it loads.
  func loadError(_ contents: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> NetworkFileError? {
    try withFile(contents) { path in
      do throws(NetworkFileError) {
        _ = try NetworkFile.load(path: path)
        Issue.record("expected the network file to be rejected", sourceLocation: sourceLocation)
        return nil
      } catch {
        #expect(error.path == path, sourceLocation: sourceLocation)
        #expect(error.description.hasPrefix(path + ": "), sourceLocation: sourceLocation)
        return error
      }
    }
  }

  static let store = #"{"locationId": "store-1", "kind": "LOCATION_KIND_STORE", "active": true}"#

  @Test("the shipped example loads: 57 locations of every kind, its groups, every member declared")
  func exampleLoads() throws {
    let network = try NetworkFile.load(path: Self.examplePath)
    #expect(network.locations.count == 57)
    let kinds = Dictionary(grouping: network.locations, by: \.kind).mapValues(\.count)
    #expect(kinds[.warehouse] == 3)
    #expect(kinds[.darkStore] == 2)
    #expect(kinds[.thirdPartyLogistics] == 1)
    #expect(kinds[.dropshipVendor] == 1)
    #expect(kinds[.store] == 50)
    #expect(network.locations.allSatisfy { $0.active })

    let ids = Set(network.locations.map(\.locationID))
    #expect(ids.count == 57)
    let groups = Dictionary(uniqueKeysWithValues: network.groups.map { ($0.groupID, $0) })
    for city in ["nyc", "chicago", "la", "seattle", "austin"] {
      #expect(groups["pickup-\(city)"]?.locationIds.count == 10, "pickup-\(city)")
    }
    let webShip = try #require(groups["web-ship"])
    #expect(webShip.locationIds.first == "dc-east")
    #expect(webShip.locationIds.contains("3pl-memphis"))
    #expect(webShip.locationIds.last == "vendor-acme-home")
    #expect(groups["same-day-nyc"] != nil)
    for group in network.groups {
      #expect(!group.locationIds.isEmpty, "\(group.groupID)")
      for member in group.locationIds {
        #expect(ids.contains(member), "group \(group.groupID) names \(member)")
      }
    }
    // Field names and enum names were read, not defaulted.
    let flagship = try #require(network.locations.first { $0.locationID == "store-nyc-001" })
    #expect(flagship.displayName == "Manhattan 5th Ave")
    #expect(flagship.capabilities.contains(.pickup))
    #expect(flagship.staleAfterSeconds == 900)
    #expect(flagship.hasCoordinates && (40...41).contains(flagship.coordinates.latitude))
  }

  @Test("both proto3 JSON spellings of field names are accepted")
  func snakeCaseAccepted() throws {
    let json = #"""
      {"locations": [{"location_id": "store-1", "kind": "LOCATION_KIND_STORE", "default_safety_stock": "2"}],
       "groups": [{"group_id": "all", "location_ids": ["store-1"], "include_stale": true}]}
      """#
    let network = try withFile(json) { try NetworkFile.load(path: $0) }
    #expect(network.locations.first?.defaultSafetyStock == 2)
    #expect(network.groups.first?.locationIds == ["store-1"])
  }

  @Test("a group naming an undeclared location is rejected, naming the group and the location")
  func unknownMember() throws {
    let error = try #require(
      try loadError(#"{"locations": [\#(Self.store)], "groups": [{"groupId": "pickup-nyc", "locationIds": ["store-1", "store-999"]}]}"#))
    #expect(error.problems == ["group 'pickup-nyc' names unknown location 'store-999'; declare it under \"locations\" or remove it from the group"])
    #expect(error.description.hasSuffix("network.json: group 'pickup-nyc' names unknown location 'store-999'; declare it under \"locations\" or remove it from the group"))
  }

  @Test("a location id declared twice is rejected, naming the id and both entries")
  func duplicateLocation() throws {
    let error = try #require(try loadError(#"{"locations": [\#(Self.store), \#(Self.store)]}"#))
    #expect(error.problems == ["location id 'store-1' is declared twice (locations[0] and locations[1])"])
  }

  @Test("a group id declared twice is rejected")
  func duplicateGroup() throws {
    let error = try #require(
      try loadError(#"{"locations": [\#(Self.store)], "groups": [{"groupId": "g"}, {"groupId": "g", "locationIds": ["store-1"]}]}"#))
    #expect(error.problems == ["group id 'g' is declared twice (groups[0] and groups[1])"])
  }

  @Test("invalid JSON is rejected as such, naming the file")
  func invalidJSON() throws {
    let error = try #require(try loadError(#"{"locations": [\#(Self.store)"#))
    #expect(error.description.contains("network.json: not valid JSON: "))
    let garbage = try #require(try loadError("locations: none"))
    #expect(garbage.problems.first?.hasPrefix("not valid JSON: ") == true)
  }

  @Test("a malformed location id is rejected, naming the field and the entry")
  func invalidLocationID() throws {
    let error = try #require(try loadError(#"{"locations": [\#(Self.store), {"locationId": "store 2", "kind": "LOCATION_KIND_STORE"}]}"#))
    #expect(error.problems == ["locations[1]: location_id 'store 2' contains a character outside [A-Za-z0-9._:/-]"])
  }

  @Test("a location breaking an UpsertLocation rule is rejected, naming it and the field")
  func invalidLocationField() throws {
    let error = try #require(
      try loadError(#"{"locations": [{"locationId": "dc-1", "kind": "LOCATION_KIND_WAREHOUSE", "staleAfterSeconds": 999999}]}"#))
    #expect(error.problems.count == 1)
    #expect(error.problems[0].hasPrefix("location 'dc-1' (locations[0]): stale_after_seconds"))
    let missingKind = try #require(try loadError(#"{"locations": [{"locationId": "dc-1"}]}"#))
    #expect(missingKind.problems[0].hasPrefix("location 'dc-1' (locations[0]): kind is missing"))
  }

  @Test("a misspelt field or enum name is rejected, naming the field or the entry")
  func schemaErrors() throws {
    let field = try #require(try loadError(#"{"locations": [{"locationId": "s", "kind": "LOCATION_KIND_STORE", "actve": true}]}"#))
    #expect(field.problems[0].contains("unknown field 'actve'"))
    let enumValue = try #require(
      try loadError(#"{"locations": [\#(Self.store), {"locationId": "s-2", "kind": "LOCATION_KIND_SHOP"}]}"#))
    #expect(enumValue.problems[0].hasPrefix("not a valid location network: locations[1] ('s-2'): an enum value is not recognised"))
  }

  @Test("several problems are all reported")
  func severalProblems() throws {
    let error = try #require(
      try loadError(
        #"{"locations": [\#(Self.store), \#(Self.store)], "groups": [{"groupId": "a", "locationIds": ["x", "store-1", "store-1"]}]}"#))
    #expect(error.problems.count == 3)
    #expect(error.description.contains("3 problems:"))
    #expect(error.problems.contains("group 'a' lists location 'store-1' more than once"))
  }

  @Test("a missing file is rejected, naming it")
  func missingFile() {
    do throws(NetworkFileError) {
      _ = try NetworkFile.load(path: "/nonexistent/omnistock/network.json")
      Issue.record("expected a missing file to be rejected")
    } catch {
      #expect(error.description == "/nonexistent/omnistock/network.json: cannot open the network file: No such file or directory")
    }
  }
}
