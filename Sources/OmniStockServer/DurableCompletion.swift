import Synchronization
import WriteAheadLog

/// Joins the two things a write waits for, in whichever order they happen: the change applied to
/// the index (which yields the answer) and the log record on disk. `deliver` runs once, after
/// both, or at once with the failure if the log failed.
final class DurableCompletion<Value: Sendable>: Sendable {
  private enum State {
    case waiting
    case applied(Value)
    case durable
    case done
  }

  private let state = Mutex(State.waiting)
  private let deliver: @Sendable (Result<Value, LogFailure>) -> Void

  init(_ deliver: @escaping @Sendable (Result<Value, LogFailure>) -> Void) {
    self.deliver = deliver
  }

  func applied(_ value: Value) {
    let ready = state.withLock { state -> Bool in
      switch state {
      case .waiting:
        state = .applied(value)
        return false
      case .durable:
        state = .done
        return true
      case .applied, .done:
        return false
      }
    }
    if ready { deliver(.success(value)) }
  }

  func durable(_ result: Result<UInt64, LogFailure>) {
    if case .failure(let failure) = result {
      let first = state.withLock { state -> Bool in
        if case .done = state { return false }
        state = .done
        return true
      }
      if first { deliver(.failure(failure)) }
      return
    }
    let value = state.withLock { state -> Value? in
      switch state {
      case .waiting:
        state = .durable
        return nil
      case .applied(let value):
        state = .done
        return value
      case .durable, .done:
        return nil
      }
    }
    if let value { deliver(.success(value)) }
  }
}
