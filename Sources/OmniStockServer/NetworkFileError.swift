/// Why a network file (`omnistock serve --locations FILE`, see ``NetworkFile``) cannot be loaded.
///
/// Guarantees: ``problems`` is never empty, and each entry says in words an operator can act on
/// what is wrong and where (`"group 'pickup-nyc' names unknown location 'store-999'"`,
/// `"location 'store-nyc-001' (locations[3]): stale_after_seconds must be at most 604800 (7 days)"`,
/// `"not valid JSON: ..."`). ``description`` starts with the file's path, so it can be printed as is.
public struct NetworkFileError: Error, CustomStringConvertible, Sendable, Hashable {
  /// The file's path, as given.
  public let path: String
  /// What is wrong, one entry per problem, without the path; at least one entry.
  public let problems: [String]

  /// An error for `path` with one or more problems (an empty list reads as "unknown problem").
  public init(path: String, problems: [String]) {
    self.path = path
    self.problems = problems.isEmpty ? ["unknown problem"] : problems
  }

  /// An error for `path` with one problem.
  public init(path: String, _ problem: String) {
    self.init(path: path, problems: [problem])
  }

  /// `path: problem`, or `path: N problems:` followed by one indented line per problem.
  public var description: String {
    if problems.count == 1 { return "\(path): \(problems[0])" }
    return "\(path): \(problems.count) problems:" + problems.map { "\n  - \($0)" }.joined()
  }
}
