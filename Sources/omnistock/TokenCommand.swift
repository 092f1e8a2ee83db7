import ArgumentParser
import Foundation
import OmniStockServer

/// `omnistock token`: makes tokens for the tokens file.
struct TokenCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "token",
    abstract: "Make access tokens and their tokens-file entries.",
    subcommands: [Create.self, Hash.self])

  /// `omnistock token create`: a new random token and its entry.
  struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print a new random token and the tokens-file entry that grants it a role.",
      discussion: """
        The token is printed once: give it to the client (it sends 'authorization: Bearer <token>'). \\
        The entry holds only its SHA-256; add it to the "tokens" array of the server's --tokens file \\
        and send the server SIGHUP (or restart it).
        """)

    @Option(help: "Name for people and logs, e.g. store-12-pos.") var name: String
    @Option(help: "Role: \(AccessRole.allCases.map(\.rawValue).joined(separator: ", ")).") var role: String
    @Option(help: "Comma-separated locations (pos: required; sync: optional).") var locations: String = ""
    @Option(help: "Rate limit for this token, calls per second.") var callsPerSecond: Int?

    func run() throws {
      guard let role = AccessRole(rawValue: role) else {
        throw ValidationError("unknown role '\(role)'; roles are \(AccessRole.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      let token = TokenIssuer.newToken()
      let list = locations.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
      do {
        let entry = try TokenIssuer.entry(name: name, role: role, locations: list, callsPerSecond: callsPerSecond, token: token)
        print("token: \(token)")
        print("entry: \(entry)")
      } catch {
        throw ValidationError(error.reason)
      }
    }
  }

  /// `omnistock token hash`: the SHA-256 of an existing token.
  struct Hash: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the SHA-256 of a token, as the tokens file stores it.")
    @Argument(help: "The token.") var token: String
    func run() { print(TokenIssuer.sha256Hex(token)) }
  }
}
