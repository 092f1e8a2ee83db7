import CNGHTTP2
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One I/O thread serving many ``GRPCClientConnection``s through one epoll instance, the way
/// h2load's `-t 1` does: the load tool shares the machine's cores with the server it measures,
/// and a thread per connection spent more of them on context switches than on the calls.
///
/// ## Threading
/// Everything a connection does on the wire (its socket, its nghttp2 session, its calls'
/// completions, its ticker) runs on this loop's thread. Other threads only hand work over: a new
/// connection (``register(_:)``) or a connection with something in its inbox (``wake(_:)``), each
/// followed by a write to the loop's eventfd.
///
/// ## Each turn of the loop
/// 1. Take in new connections and serve the inboxes of woken ones.
/// 2. Run the tickers that are due (open-loop pacing) and arm the timerfd for the next one.
/// 3. Flush every connection touched since the last turn, and detach those that are done
///    (closed, failed, or out of grace).
/// 4. Wait in `epoll_wait` and read what arrived (edge-triggered: each socket is read until it
///    would block); reading runs completions, which may start the next calls.
///
/// `@unchecked Sendable`: `connections`, `members`, `touched` and `timerDue` are touched only on
/// the loop's thread; `inbox` is a mutex; the descriptors never change while the thread runs, and
/// ``shutdown()`` closes them only after the thread has exited, under the inbox's lock (the only
/// place other threads write to the eventfd).
public final class ClientIOLoop: @unchecked Sendable {
  private struct Inbox {
    var added: [GRPCClientConnection] = []
    var woken: [GRPCClientConnection] = []
    var stopping = false
    /// The thread has exited and the descriptors are closed: nothing may be handed over, and
    /// nothing written to the (possibly reused) descriptor numbers.
    var closed = false
  }

  private let epoll: Int32
  private let wakeUp: Int32
  private let timer: Int32
  private let inbox = Mutex(Inbox())
  private let exited = DispatchSemaphore(value: 0)
  private let isShutDown = Atomic<Bool>(false)
  /// The attached connections by socket, and in attach order (ticks run in that order).
  private var connections: [Int32: GRPCClientConnection] = [:]
  private var members: [GRPCClientConnection] = []
  /// Connections to flush (and check for the end) at the next turn.
  private var touched: [GRPCClientConnection] = []
  /// When the armed timerfd fires (nil: not armed).
  private var timerDue: ContinuousClock.Instant?

  /// Creates the epoll instance and starts the loop's thread.
  public init() throws {
    let epoll = omnistock_epoll_create()
    let wakeUp = omnistock_eventfd()
    let timer = omnistock_timerfd()
    guard epoll >= 0, wakeUp >= 0, timer >= 0,
      omnistock_epoll_add(epoll, wakeUp) == 0, omnistock_epoll_add(epoll, timer) == 0
    else {
      let reason = String(cString: strerror(errno))
      for descriptor in [epoll, wakeUp, timer] where descriptor >= 0 { Glibc.close(descriptor) }
      throw LoadError("cannot set up the load client's event loop: \(reason)")
    }
    self.epoll = epoll
    self.wakeUp = wakeUp
    self.timer = timer
    let thread = Thread { [self] in
      run()
      exited.signal()
    }
    thread.name = "omnistock-load-io"
    thread.start()
  }

  /// Stops the loop: connections still attached end as if their server had gone (their calls
  /// fail), the thread exits, the descriptors close. Call it once, after closing the
  /// connections, from any thread but the loop's.
  public func shutdown() {
    guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
    handOver { $0.stopping = true }
    exited.wait()
    inbox.withLock { inbox in
      inbox.closed = true
      Glibc.close(epoll)
      Glibc.close(wakeUp)
      Glibc.close(timer)
    }
  }

  /// Attaches `connection` (from any thread): its socket is watched from the next turn on. On a
  /// loop that has shut down, the connection ends at once (its calls fail instead of waiting).
  func register(_ connection: GRPCClientConnection) {
    guard handOver({ $0.added.append(connection) }) else {
      connection.stop(reason: "the load client's I/O loop has stopped")
      return
    }
  }

  /// Asks the loop to serve `connection`'s inbox (from any thread); once per turn at most.
  func wake(_ connection: GRPCClientConnection) {
    guard !connection.wakePending.exchange(true, ordering: .acquiringAndReleasing) else { return }
    handOver { $0.woken.append(connection) }
  }

  /// Marks `connection` for a flush at the end of this turn (loop thread only).
  func touch(_ connection: GRPCClientConnection) {
    guard !connection.isTouched else { return }
    connection.isTouched = true
    touched.append(connection)
  }

  /// Changes the inbox and wakes the loop, under the inbox's lock (so never after ``shutdown()``
  /// closed the eventfd); `false` if the loop has shut down.
  @discardableResult
  private func handOver(_ change: (inout Inbox) -> Void) -> Bool {
    inbox.withLock { inbox in
      guard !inbox.closed else { return false }
      change(&inbox)
      var one: UInt64 = 1
      _ = Glibc.write(wakeUp, &one, MemoryLayout<UInt64>.size)
      return true
    }
  }

  // MARK: - The loop's thread

  private func run() {
    var input = [UInt8](repeating: 0, count: 1 << 16)
    var readyDescriptors = [Int32](repeating: 0, count: 64)
    var readyBits = [UInt32](repeating: 0, count: 64)
    while true {
      let handed = inbox.withLock { inbox -> Inbox in
        defer {
          inbox.added.removeAll(keepingCapacity: true)
          inbox.woken.removeAll(keepingCapacity: true)
        }
        return inbox
      }
      for connection in handed.added { attach(connection) }
      for connection in handed.woken {
        connection.wakePending.store(false, ordering: .releasing)
        connection.serveInbox()
        touch(connection)
      }
      if handed.stopping {
        for connection in members { detach(connection) }
        return
      }
      let nextTick = runDueTickers()
      for connection in touched {
        connection.isTouched = false
        connection.flush()
        if connection.isDone { detach(connection) }
      }
      touched.removeAll(keepingCapacity: true)

      var timeoutMilliseconds: Int32 = 100
      if let nextTick {
        let wait = nextTick - .now
        if wait <= .zero {
          timeoutMilliseconds = 0
        } else if timerDue != nextTick {
          let (seconds, attoseconds) = wait.components
          _ = omnistock_timer_arm(timer, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
          timerDue = nextTick
        }
      }
      let count = omnistock_epoll_wait(epoll, &readyDescriptors, &readyBits, 64, timeoutMilliseconds)
      for index in 0..<max(0, Int(count)) {
        let descriptor = readyDescriptors[index]
        if descriptor == wakeUp || descriptor == timer {
          var drained: UInt64 = 0
          _ = Glibc.read(descriptor, &drained, MemoryLayout<UInt64>.size)
          if descriptor == timer { timerDue = nil }
        } else if let connection = connections[descriptor] {
          let bits = readyBits[index]
          if bits & UInt32(OMNISTOCK_READY_INPUT) != 0 {
            connection.readAvailable(into: &input, toTheEnd: bits & UInt32(OMNISTOCK_READY_HANGUP) != 0)
          }
          touch(connection)
        }
      }
    }
  }

  /// Runs every ticker that is due; returns when the earliest one wants to run next.
  private func runDueTickers() -> ContinuousClock.Instant? {
    let now = ContinuousClock.now
    var next: ContinuousClock.Instant?
    for connection in members {
      guard let due = connection.tickDue else { continue }
      if due <= now {
        connection.tick()
        touch(connection)
      }
      if let due = connection.tickDue { next = min(next ?? due, due) }
    }
    return next
  }

  private func attach(_ connection: GRPCClientConnection) {
    guard omnistock_epoll_add(epoll, connection.socket) == 0 else {
      connection.stop(reason: "the load client cannot watch its socket: \(String(cString: strerror(errno)))")
      return
    }
    connections[connection.socket] = connection
    members.append(connection)
    touch(connection)
  }

  private func detach(_ connection: GRPCClientConnection) {
    guard connections.removeValue(forKey: connection.socket) != nil else { return }
    members.removeAll { $0 === connection }
    _ = omnistock_epoll_remove(epoll, connection.socket)
    connection.stop(reason: "the connection closed with the call in flight")
  }
}
