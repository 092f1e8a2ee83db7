public import GRPCNGHTTP2

/// The service of the contract whose behaviour arrives in later work (reservations): every method is routed and
/// answers `UNIMPLEMENTED` with a reason, so clients can be written against the full contract now.
public enum PendingServices {
  /// Adds the pending methods to `router`.
  public static func register(into router: inout RPCRouter) {
    for method in OmniStockMethods.Reservations.all {
      router.unimplemented(method, reason: "reservations arrive with issue 6")
    }
  }
}
