import GRPCNGHTTP2
import Synchronization

/// The acks of one `StreamEvents` stream, delivered in batch order while up to ``window`` batches
/// are in flight (a terminal replaying a backlog sends its next batches without waiting, and they
/// share `fdatasync`s with each other and with every other stream).
///
/// One producer (the loop reading batches: ``reserve()`` before applying a batch, ``complete(_:_:)``
/// when its ack is ready, ``finish()`` at the end of the requests) and one consumer (the loop
/// writing ``results`` in order, calling ``released()`` after each write, ``abandon()`` when it
/// stops).
///
/// ## Guarantees
/// - Acks come out of ``results`` in the order their batches were reserved, each once, whatever
///   order they complete in (a batch of duplicates may complete before an earlier batch).
/// - At most ``window`` batches are reserved and not yet written: a client that does not read its
///   acks stops the server from reading its batches (back-pressure), memory stays bounded.
/// - After ``abandon()``, ``reserve()`` returns `nil` at once, also to a producer already waiting.
final class OrderedAcks<Ack: Sendable>: Sendable {
  let window: Int
  let results: AsyncStream<Result<Ack, GRPCStatus>>
  private let sink: AsyncStream<Result<Ack, GRPCStatus>>.Continuation

  private enum Phase {
    case open
    case requestsFinished
    case abandoned
  }

  private struct State {
    var issued = 0
    var delivered = 0
    var ready: [Int: Result<Ack, GRPCStatus>] = [:]
    var inFlight = 0
    var waiter: CheckedContinuation<Int?, Never>?
    var phase = Phase.open
  }

  private let state = Mutex(State())

  init(window: Int) {
    self.window = window
    (results, sink) = AsyncStream.makeStream(of: Result<Ack, GRPCStatus>.self)
  }

  /// Waits until fewer than ``window`` batches are in flight; returns the next batch's number, or
  /// `nil` once the consumer has stopped.
  func reserve() async -> Int? {
    await withCheckedContinuation { (continuation: CheckedContinuation<Int?, Never>) in
      let number = state.withLock { state -> Int?? in
        if case .abandoned = state.phase { return .some(nil) }
        guard state.inFlight < window else {
          state.waiter = continuation
          return nil
        }
        state.inFlight += 1
        state.issued += 1
        return .some(state.issued - 1)
      }
      if let number { continuation.resume(returning: number) }
    }
  }

  /// The ack (or failure) of batch `number`.
  func complete(_ number: Int, _ result: Result<Ack, GRPCStatus>) {
    state.withLock { state in
      state.ready[number] = result
      while let next = state.ready.removeValue(forKey: state.delivered) {
        sink.yield(next)
        state.delivered += 1
      }
      if case .requestsFinished = state.phase, state.delivered == state.issued { sink.finish() }
    }
  }

  /// The consumer wrote one ack: room for one more batch.
  func released() {
    let resumed = state.withLock { state -> (CheckedContinuation<Int?, Never>, Int)? in
      guard let waiter = state.waiter else {
        state.inFlight -= 1
        return nil
      }
      state.waiter = nil
      state.issued += 1
      return (waiter, state.issued - 1)
    }
    if let (waiter, number) = resumed { waiter.resume(returning: number) }
  }

  /// No more batches: ``results`` ends after the last outstanding ack.
  func finish() {
    state.withLock { state in
      guard case .open = state.phase else { return }
      state.phase = .requestsFinished
      if state.delivered == state.issued { sink.finish() }
    }
  }

  /// The consumer stopped (the stream failed or ended): a waiting producer is released with `nil`.
  func abandon() {
    let waiter = state.withLock { state -> CheckedContinuation<Int?, Never>? in
      state.phase = .abandoned
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume(returning: nil)
    sink.finish()
  }
}
