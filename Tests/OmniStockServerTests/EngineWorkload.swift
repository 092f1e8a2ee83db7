import Foundation
import OmniStockAPI
import OmniStockServer

/// A random mix of POS traffic for engine tests: several devices over two stores and a few SKUs,
/// with sales, receipts, adjustments and counts, resends (duplicates), skipped sequence numbers
/// (gaps) and backdated events (superseded).
enum EngineWorkload {
  static func run(
    on engine: InProcessEngine, batches: Int, devices: Int = 4, skus: Int = 6, using random: inout some RandomNumberGenerator
  ) async throws {
    let skuNames = (0..<skus).map { "SKU-W\($0)" }
    // Continue each device's sequence where the engine has it, so a second run sends new events.
    var next = (0..<devices).map { device in (engine.writer.read { $0.devices["dev-\(device)"] } ?? 0) + 1 }
    var clock: Int64 = 1_700_000_000_000
    for _ in 0..<batches {
      let device = Int.random(in: 0..<devices, using: &random)
      var events: [Omnistock_V1_StockEvent] = []
      if Int.random(in: 0..<10, using: &random) == 0 { next[device] = next[device] > 3 ? next[device] - 3 : 1 }  // resend
      if Int.random(in: 0..<15, using: &random) == 0 { next[device] += 2 }  // gap
      for _ in 0..<Int.random(in: 1...8, using: &random) {
        clock += Int64.random(in: -500...2_000, using: &random)
        let (type, quantity): (Omnistock_V1_EventType, Int64) =
          switch Int.random(in: 0..<10, using: &random) {
          case 0..<6: (.sale, Int64.random(in: 1...3, using: &random))
          case 6, 7: (.receipt, Int64.random(in: 1...20, using: &random))
          case 8: (.adjustment, Int64.random(in: -4...4, using: &random) | 1)
          default: (.count, Int64.random(in: 0...30, using: &random))
          }
        var event = Fixtures.event(
          device: "dev-\(device)", seq: next[device], location: Bool.random(using: &random) ? "store-1" : "store-2",
          sku: skuNames.randomElement(using: &random)!, type: type, quantity: quantity, time: clock)
        if type == .adjustment { event.reason = .correction }
        events.append(event)
        next[device] += 1
      }
      _ = try await engine.send(Fixtures.batch("w", events))
    }
  }
}
