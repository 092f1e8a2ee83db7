import Logging

/// Logs, once a minute and only when there were any, how many calls were denied and for which
/// tokens: one line an operator can act on instead of one line per refused call.
struct AccessDenialReport {
  let policy: AccessPolicy
  let logger: Logger
  var interval: Duration = .seconds(60)

  func run() async {
    while !Task.isCancelled {
      do { try await Task.sleep(for: interval) } catch { return }
      let denials = policy.takeRecentDenials()
      guard denials.total > 0 else { continue }
      let tokens = denials.byToken.sorted { $0.value > $1.value }.prefix(10).map { "\($0.key)=\($0.value)" }
      logger.warning(
        "calls denied in the last minute",
        metadata: [
          "unauthenticated": "\(denials.unauthenticated)", "permissionDenied": "\(denials.permissionDenied)",
          "rateLimited": "\(denials.rateLimited)", "byToken": "\(tokens.joined(separator: ", "))",
        ])
    }
  }
}
