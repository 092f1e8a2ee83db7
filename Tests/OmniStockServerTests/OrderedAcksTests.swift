import GRPCNGHTTP2
@testable import OmniStockServer
import Synchronization
import Testing

/// The in-order delivery of pipelined stream acks.
@Suite("Ordered acks of a pipelined event stream", .timeLimit(.minutes(1)))
struct OrderedAcksTests {
  @Test("acks completing out of order come out in batch order, each once, then the sequence ends")
  func inOrder() async throws {
    let ordered = OrderedAcks<Int>(window: 8)
    var numbers: [Int] = []
    for _ in 0..<5 { numbers.append(try #require(await ordered.reserve())) }
    #expect(numbers == [0, 1, 2, 3, 4])
    for number in [3, 1, 4, 0, 2] { ordered.complete(number, .success(number * 10)) }
    ordered.finish()
    var seen: [Int] = []
    for await result in ordered.results {
      seen.append(try result.get())
      ordered.released()
    }
    #expect(seen == [0, 10, 20, 30, 40])
  }

  @Test("a full window holds the producer until the consumer writes an ack")
  func backPressure() async throws {
    let ordered = OrderedAcks<Int>(window: 2)
    #expect(await ordered.reserve() == 0)
    #expect(await ordered.reserve() == 1)
    let third = Task { await ordered.reserve() }
    ordered.complete(0, .success(0))
    var results = ordered.results.makeAsyncIterator()
    #expect(try await results.next()?.get() == 0)
    ordered.released()  // the consumer wrote ack 0: room for batch 2
    #expect(await third.value == 2)
  }

  @Test("abandon releases a waiting producer with nil, and later reservations too")
  func abandon() async throws {
    let ordered = OrderedAcks<Int>(window: 1)
    #expect(await ordered.reserve() == 0)
    let waiting = Task { await ordered.reserve() }
    ordered.abandon()
    #expect(await waiting.value == nil)
    #expect(await ordered.reserve() == nil)
  }
}
