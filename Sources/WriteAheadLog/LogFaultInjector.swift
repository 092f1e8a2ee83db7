import Synchronization

/// Makes the log's I/O fail on purpose, to test fail-stop: the next `pwrite` or `fdatasync` after
/// a given number of successful ones reports an error (as a full or failing disk would). Pass one
/// in ``WriteAheadLog/Configuration/faults``; production logs have none.
public final class LogFaultInjector: Sendable {
  /// Which call fails.
  public enum Call: Sendable {
    case write
    case sync
  }

  private struct Plan {
    var call: Call?
    var after = 0
  }

  private let plan = Mutex(Plan())

  public init() {}

  /// Fails the `call` made after `after` more successful ones (0: the next one), once armed; every
  /// later one fails too (a failed disk stays failed).
  public func fail(_ call: Call, after: Int = 0) {
    plan.withLock { $0 = Plan(call: call, after: after) }
  }

  /// Called by the log before each I/O call; throws the injected failure.
  func check(_ call: Call, path: String) throws(LogFailure) {
    let fails = plan.withLock { plan -> Bool in
      guard plan.call == call else { return false }
      if plan.after > 0 {
        plan.after -= 1
        return false
      }
      return true
    }
    if fails { throw LogFailure("\(call == .write ? "write" : "fdatasync") '\(path)' failed: Input/output error (injected)") }
  }
}
