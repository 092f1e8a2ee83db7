import Dispatch
import Foundation
import OmniStockAPI
import OmniStockLoad
import SwiftProtobuf
import Synchronization
import Testing

/// The load tool's client against the real binary: many connections sharing one or two
/// ``ClientIOLoop`` threads, calls that fail (rather than hang) when the server goes, and a short
/// closed-loop run whose ledger check must pass.
@Suite("Load client against the real server", .timeLimit(.minutes(2)))
struct LoadClientTests {
  /// Runs blocking `body` off Swift's cooperative pool (the loop's callers block; tests' tasks
  /// must not).
  private func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
      DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
  }

  /// A unary call from a thread that may wait: the status, the message, the response bytes.
  private static func call(
    _ connection: GRPCClientConnection, _ path: String, _ request: some SwiftProtobuf.Message
  ) throws -> (status: Int, message: String, response: [UInt8]) {
    connection.unaryWaiting(path: path, message: try request.serializedBytes())
  }

  @Test("50 connections on one I/O thread each get their own answers")
  func manyConnectionsShareOneLoop() async throws {
    let server = try await ServerProcess.start()
    defer { server.terminate() }
    let port = server.port
    let answers = try await offPool { () -> [Int: (status: Int, message: String)] in
      let loop = try ClientIOLoop()
      defer { loop.shutdown() }
      let connections = try (0..<50).map { _ in try GRPCClientConnection(host: "127.0.0.1", port: port, loop: loop) }
      defer { for connection in connections { connection.close() } }
      // Every connection asks at once about a different unknown location: each answer is
      // NOT_FOUND naming the location its own request asked about.
      let done = DispatchGroup()
      let answers = Mutex<[Int: (status: Int, message: String)]>([:])
      for (number, connection) in connections.enumerated() {
        var request = Omnistock_V1_GetAvailabilityRequest()
        request.query.sku = "SKU-1"
        request.query.locationID = "nowhere-\(number)"
        done.enter()
        connection.unary(path: "/omnistock.v1.Availability/GetAvailability", message: try request.serializedBytes()) {
          status, message, _ in
          answers.withLock { $0[number] = (status, message) }
          done.leave()
        }
      }
      done.wait()
      return answers.withLock { $0 }
    }
    #expect(answers.count == 50)
    for (number, answer) in answers {
      #expect(answer.status == 5, "connection \(number): \(answer)")
      #expect(answer.message.contains("'nowhere-\(number)'"), "connection \(number): \(answer.message)")
    }
  }

  @Test("calls on a connection whose server was killed fail at once instead of waiting")
  func callsFailWhenTheServerGoes() async throws {
    let server = try await ServerProcess.start()
    let port = server.port
    let (loop, connection) = try await offPool { () -> (ClientIOLoop, GRPCClientConnection) in
      let loop = try ClientIOLoop()
      return (loop, try GRPCClientConnection(host: "127.0.0.1", port: port, loop: loop))
    }
    let check = Grpc_Health_V1_HealthCheckRequest()
    let before = try await offPool { try Self.call(connection, "/grpc.health.v1.Health/Check", check) }
    #expect(before.status == 0, "\(before.message)")
    await server.crash()
    let after = try await offPool { try Self.call(connection, "/grpc.health.v1.Health/Check", check) }
    #expect(after.status == -1)
    #expect(after.message.contains("closed"), "\(after.message)")
    try await offPool {
      connection.close(graceSeconds: 1)
      loop.shutdown()
    }
  }

  @Test("a connection made on a loop that has shut down fails its calls at once")
  func loopThatHasShutDown() async throws {
    let server = try await ServerProcess.start()
    defer { server.terminate() }
    let port = server.port
    let answer = try await offPool { () -> (status: Int, message: String, response: [UInt8]) in
      let loop = try ClientIOLoop()
      loop.shutdown()
      let connection = try GRPCClientConnection(host: "127.0.0.1", port: port, loop: loop)
      defer { connection.close() }
      return try Self.call(connection, "/grpc.health.v1.Health/Check", Grpc_Health_V1_HealthCheckRequest())
    }
    #expect(answer.status == -1)
    #expect(answer.message.contains("closed"), "\(answer.message)")
  }

  @Test("a closed-loop run on two I/O threads: every kind of call succeeds and the ledger matches")
  func shortRunOnTwoLoops() async throws {
    let server = try await ServerProcess.start()
    defer { server.terminate() }
    var configuration = LoadConfiguration()
    configuration.port = server.port
    configuration.seconds = 1.5
    configuration.ioThreads = 2
    configuration.terminals = 3
    configuration.storefronts = 2
    configuration.shoppers = 2
    configuration.watchers = 1
    configuration.skus = 500
    configuration.stockedSKUs = 50
    configuration.locations = 6
    let run = LoadRun(configuration: configuration) { _ in }
    let result = try await offPool { try run.run() }
    #expect(result.mismatches.isEmpty, "\(result.mismatches.prefix(5))")
    #expect(result.checkedPositions > 0)
    #expect(result.ledgerEvents > 0)
    for (name, stats) in result.operations where !name.hasPrefix("WatchAvailability") {
      #expect(stats.count > 0, "no \(name) call finished")
      #expect(stats.errors.isEmpty, "\(name): \(stats.errors)")
    }
    #expect(result.watchMessages > 0)
  }
}
