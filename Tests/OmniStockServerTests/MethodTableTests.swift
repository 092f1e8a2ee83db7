import Foundation
import GRPCCore
import GRPCNGHTTP2
import OmniStockAPIGRPC
import OmniStockServer
import StockIndex
import WriteAheadLog
import Testing

/// The server spells its method paths by hand (it does not link grpc-swift); they must match the
/// generated contract exactly, or clients would get UNIMPLEMENTED.
@Suite("Method table")
struct MethodTableTests {
  @Test("every served path matches the generated descriptors, service by service")
  func pathsMatchContract() {
    func paths(_ descriptors: [MethodDescriptor]) -> Set<String> {
      Set(descriptors.map { "/\($0.service.fullyQualifiedService)/\($0.method)" })
    }
    #expect(Set(OmniStockMethods.Availability.all.map(\.path)) == paths(Omnistock_V1_Availability.Method.descriptors))
    #expect(Set(OmniStockMethods.Ingest.all.map(\.path)) == paths(Omnistock_V1_Ingest.Method.descriptors))
    #expect(Set(OmniStockMethods.Reservations.all.map(\.path)) == paths(Omnistock_V1_Reservations.Method.descriptors))
    #expect(Set(OmniStockMethods.Admin.all.map(\.path)) == paths(Omnistock_V1_Admin.Method.descriptors))
    #expect(Set(OmniStockMethods.Health.all.map(\.path)) == paths(Grpc_Health_V1_Health.Method.descriptors))
  }

  @Test("the server routes every method of the contract")
  func everyMethodRouted() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("omnistock-routes-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (log, _) = try WriteAheadLog.open(.init(directory: directory), onFailure: { _ in }) { _ in }
    defer { log.close() }
    let index = StockIndex()
    let writer = StockWriter(index: index, log: log)
    let locations = LocationDirectory(index: index)
    let router = OmniStockServer.router(
      writer: writer, directory: locations, health: HealthStatusBoard(services: OmniStockMethods.serviceNames),
      checkpointer: Checkpointer(writer: writer, directory: locations, path: directory + "/checkpoints", last: nil),
      startedAtUnixMs: 0)
    let routed = Set(router.methods.map(\.path))
    let all =
      OmniStockMethods.Availability.all + OmniStockMethods.Ingest.all + OmniStockMethods.Reservations.all
      + OmniStockMethods.Admin.all + OmniStockMethods.Health.all
    #expect(routed == Set(all.map(\.path)))
  }
}
