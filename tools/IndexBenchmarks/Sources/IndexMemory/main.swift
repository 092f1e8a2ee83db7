// index-memory: resident memory per position of a filled StockIndex (issue 3: target <= 64 bytes).
//
//   index-memory [--skus N] [--locations-per-sku K] [--no-strings]
//                [--initial-shard-capacity C] [--shard-count-log2 S]
//
// Creates the index, declares 60 locations ("store-000"...), then fills N x K positions (default
// 1,000,000 x 10 = 10,000,000) by ids through `apply` with `.adjust`, reading RSS
// (/proc/self/statm) before the index exists and after the fill: the delta over the positions is
// the cost of a position (slots, key tables, retired tables, allocator overhead; plus the empty
// index's fixed ~4 MB, under 0.5 byte a position at 10M). Then interns the N SKU strings ("SKU-00012345") and reports their
// RSS delta separately (per SKU and per position), since a real index holds both.
//
// `--initial-shard-capacity` (default: the library's) pre-sizes every shard's key table, so no
// table is outgrown and retired during the fill: the difference shows what retired tables cost.
//
// Output: `key=value` lines (parsed by tools/bench-index.sh).
import StockIndex

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func residentBytes() -> Int {
  guard let file = fopen("/proc/self/statm", "r") else { return -1 }
  defer { fclose(file) }
  var size = 0
  var resident = 0
  guard readStatm(file, &size, &resident) else { return -1 }
  return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func readStatm(_ file: UnsafeMutablePointer<FILE>, _ size: inout Int, _ resident: inout Int) -> Bool {
  var buffer = [CChar](repeating: 0, count: 256)
  guard fgets(&buffer, Int32(buffer.count), file) != nil else { return false }
  let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  let fields = text.split(separator: " ")
  guard fields.count >= 2, let first = Int(fields[0]), let second = Int(fields[1]) else { return false }
  size = first
  resident = second
  return true
}

func seconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

var skuCount = 1_000_000
var locationsPerSKU = 10
var internStrings = true
var configuration = StockIndex.Configuration()
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
  switch argument {
  case "--skus": skuCount = Int(arguments.next() ?? "") ?? skuCount
  case "--locations-per-sku": locationsPerSKU = Int(arguments.next() ?? "") ?? locationsPerSKU
  case "--no-strings": internStrings = false
  case "--initial-shard-capacity":
    configuration.initialShardCapacity = Int(arguments.next() ?? "") ?? configuration.initialShardCapacity
  case "--shard-count-log2":
    configuration.shardCountLog2 = Int(arguments.next() ?? "") ?? configuration.shardCountLog2
  default:
    print(
      "usage: index-memory [--skus N] [--locations-per-sku K] [--no-strings] [--initial-shard-capacity C] [--shard-count-log2 S]"
    )
    exit(2)
  }
}
let locationCount = 60
precondition(locationsPerSKU <= 10, "locations are picked as (7*sku + 6*k) mod 60, distinct for k < 10")

let start = residentBytes()
let index = StockIndex(configuration: configuration)
for location in 0..<locationCount {
  let name = "store-" + String(repeating: "0", count: 3 - String(location).count) + String(location)
  precondition(index.declareLocation(name, settings: LocationSettings()) == UInt32(location))
}
let nowUnixMs: Int64 = 1_767_225_600_000
let empty = residentBytes()

let clock = ContinuousClock()
let fillStarted = clock.now
var lsn: UInt64 = 0
for sku in 0..<skuCount {
  for k in 0..<locationsPerSKU {
    lsn += 1
    let location = (sku &* 7 &+ k &* 6) % locationCount
    let outcome = index.apply(
      StockUpdate(sku: UInt32(sku), location: UInt32(location), change: .adjust(delta: Int64(1 + (sku ^ k) & 63))),
      lsn: lsn, nowUnixMs: nowUnixMs)
    if case .indexFull = outcome { fatalError("index full at sku \(sku)") }
  }
}
let fillSeconds = seconds(fillStarted.duration(to: clock.now))
let filled = residentBytes()
let positions = skuCount * locationsPerSKU
let statistics = index.statistics()

print("positions=\(positions)")
print("shards=\(1 << configuration.shardCountLog2)")
print("initial_shard_capacity=\(configuration.initialShardCapacity)")
print("rss_start_bytes=\(start)")
print("rss_empty_index_bytes=\(empty)")
print("rss_filled_bytes=\(filled)")
// From before the index existed: includes what `init` allocates and touches (fixed tables, and
// pre-sized key tables with --initial-shard-capacity), so it is right for any configuration.
print("rss_delta_bytes=\(filled - start)")
print("bytes_per_position=\(String(format2: Double(filled - start) / Double(positions)))")
print("rss_delta_fill_only_bytes=\(filled - empty)")
print("statistics_slots=\(statistics.slots)")
print("statistics_allocated_bytes=\(statistics.allocatedBytes)")
print("statistics_bytes_per_position=\(String(format2: Double(statistics.allocatedBytes) / Double(positions)))")
print("fill_seconds=\(String(format2: fillSeconds))")
print("fill_updates_per_second=\(Int(Double(positions) / fillSeconds))")

if internStrings {
  let before = residentBytes()
  for sku in 0..<skuCount {
    let digits = String(sku)
    let name = "SKU-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    guard index.skus.intern(name) != nil else { fatalError("interner full") }
  }
  let after = residentBytes()
  print("interned_skus=\(skuCount)")
  print("rss_interning_delta_bytes=\(after - before)")
  print("bytes_per_interned_sku=\(String(format2: Double(after - before) / Double(skuCount)))")
  print("bytes_per_position_with_strings=\(String(format2: Double(after - empty) / Double(positions)))")
}
withExtendedLifetime(index) {}

extension String {
  /// Two decimals, without Foundation.
  init(format2 value: Double) {
    let scaled = Int((value * 100).rounded())
    let fraction = abs(scaled % 100)
    self = "\(scaled / 100).\(fraction < 10 ? "0" : "")\(fraction)"
  }
}
