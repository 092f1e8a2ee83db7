/// Several ``CallObserver``s as one: tells each, in order, about every call that ends (the server
/// takes one observer; metrics and the dashboard each want to see the calls).
public struct CallObserverGroup: CallObserver {
  private let observers: [any CallObserver]

  /// Observers told in this order.
  public init(_ observers: [any CallObserver]) {
    self.observers = observers
  }

  public func callEnded(route: Int?, code: GRPCStatusCode, nanoseconds: UInt64) {
    for observer in observers { observer.callEnded(route: route, code: code, nanoseconds: nanoseconds) }
  }
}
