import OmniStockAPI
import SwiftProtobuf
import Synchronization

/// One order-management client placing carts, paced closed- or open-loop: `Reserve` of 1 to
/// `cartLines` group lines (the run's group of all its locations, `allow_partial`) on Zipf-popular
/// stocked SKUs, then `Commit` of everything held, or sometimes `Release`. Its ledger follows the
/// units held and committed per location, from the server's own allocations. A cart that finds
/// nothing in stock is a business outcome (counted), not an error. I/O thread, except `init`.
final class ShopperDriver: LoadDriver {
  struct State {
    var ledger = LoadLedger()
    var reserve = OperationStats()
    var commit = OperationStats()
    var release = OperationStats()
    var zipf: ZipfGenerator
    var carts = 0
    var outOfStock = 0
  }

  let connection: GRPCClientConnection
  let state: Mutex<State>
  let failures = Atomic<Int>(0)
  private let configuration: LoadConfiguration
  private let run: LoadRun
  private let number: Int
  private let pacer = Mutex<CallPacer?>(nil)

  init(run: LoadRun, number: Int, deadline: ContinuousClock.Instant) throws {
    self.run = run
    self.number = number
    configuration = run.configuration
    connection = try run.connect()
    let stocked = max(1, min(configuration.stockedSKUs, configuration.skus))
    state = Mutex(State(zipf: ZipfGenerator(count: stocked, exponent: configuration.zipfExponent, seed: configuration.seed &+ 2_000 &+ UInt64(number))))
    let pacer = CallPacer(
      schedule: configuration.shopperSchedule, deadline: deadline, connection: connection,
      send: { [unowned self] due in placeCart(due: due) })
    self.pacer.withLock { $0 = pacer }
  }

  var operations: [(name: String, stats: OperationStats)] {
    state.withLock { [("Reserve (cart of 1-\(configuration.cartLines) group lines)", $0.reserve), ("Commit", $0.commit), ("Release", $0.release)] }
  }
  var ledger: LoadLedger { state.withLock { $0.ledger } }
  var unsent: Int { pacer.withLock { $0?.unsent ?? 0 } }
  /// Carts that found nothing available.
  var outOfStock: Int { state.withLock { $0.outOfStock } }

  func start() { pacer.withLock { $0 }?.start() }

  private func placeCart(due: ContinuousClock.Instant) {
    let (request, release) = state.withLock { state -> (Omnistock_V1_ReserveRequest, Bool) in
      state.carts += 1
      var request = Omnistock_V1_ReserveRequest()
      request.reservationID = "load-\(run.runID)-cart-\(number)-\(state.carts)"
      request.ttlSeconds = 120
      request.allowPartial = true
      var skus: Set<Int> = []
      let lines = 1 + state.zipf.uniform(max(1, configuration.cartLines))
      for _ in 0..<(lines * 4) where skus.count < lines { skus.insert(state.zipf.next()) }
      request.lines = skus.sorted().map { rank in
        var line = Omnistock_V1_ReservationLine()
        line.sku = run.skuName(rank)
        line.groupID = run.groupName
        line.quantity = Int64(1 + state.zipf.uniform(2))
        return line
      }
      return (request, Double(state.zipf.uniform(10_000)) < configuration.releasePercent * 100)
    }
    let message = (try? request.serializedBytes()) ?? []
    connection.unaryFromIOThread(path: "/omnistock.v1.Reservations/Reserve", message: message) { [self] status, _, bytes in
      let reservation = status == 0 ? (try? Omnistock_V1_ReserveResponse(serializedBytes: bytes))?.reservation : nil
      let outcome = state.withLock { state -> Omnistock_V1_Reservation? in
        // FAILED_PRECONDITION: nothing of the cart was available; nothing changed.
        state.reserve.record(micros: LoadRun.micros(since: due), status: status == 9 ? 0 : status)
        if status == 9 {
          state.outOfStock += 1
          return nil
        }
        guard let reservation else {
          for line in request.lines { for location in 0..<configuration.locations { state.ledger.unknown(position(line.sku, run.locationName(location))) } }
          return nil
        }
        for line in reservation.lines {
          for allocation in line.allocations { state.ledger.held(position(line.line.sku, allocation.locationID), units: allocation.quantity) }
        }
        return reservation
      }
      if status != 0 && status != 9 { failures.add(1, ordering: .relaxed) }
      guard let outcome else {
        pacer.withLock { $0 }?.finished()
        return
      }
      settle(outcome, release: release)
    }
  }

  /// Commits (or releases) what a cart holds, and follows the result in the ledger.
  private func settle(_ reservation: Omnistock_V1_Reservation, release: Bool) {
    let started = ContinuousClock.now
    let path: String
    let message: [UInt8]
    if release {
      var request = Omnistock_V1_ReleaseRequest()
      request.reservationID = reservation.reservationID
      path = "/omnistock.v1.Reservations/Release"
      message = (try? request.serializedBytes()) ?? []
    } else {
      var request = Omnistock_V1_CommitRequest()
      request.reservationID = reservation.reservationID
      path = "/omnistock.v1.Reservations/Commit"
      message = (try? request.serializedBytes()) ?? []
    }
    connection.unaryFromIOThread(path: path, message: message) { [self] status, _, bytes in
      let after: Omnistock_V1_Reservation? =
        status != 0 ? nil
        : release
          ? (try? Omnistock_V1_ReleaseResponse(serializedBytes: bytes))?.reservation
          : (try? Omnistock_V1_CommitResponse(serializedBytes: bytes))?.reservation
      state.withLock { state in
        if release {
          state.release.record(micros: LoadRun.micros(since: started), status: status)
        } else {
          state.commit.record(micros: LoadRun.micros(since: started), status: status)
        }
        guard let after else {
          for line in reservation.lines { for allocation in line.allocations { state.ledger.unknown(position(line.line.sku, allocation.locationID)) } }
          return
        }
        for line in after.lines {
          for allocation in line.allocations {
            let position = position(line.line.sku, allocation.locationID)
            state.ledger.committed(position, units: allocation.committed)
            state.ledger.held(position, units: -allocation.released)
          }
        }
      }
      if status != 0 { failures.add(1, ordering: .relaxed) }
      pacer.withLock { $0 }?.finished()
    }
  }

  private func position(_ sku: String, _ location: String) -> LoadLedger.Position {
    LoadLedger.Position(sku: sku, location: location)
  }
}
