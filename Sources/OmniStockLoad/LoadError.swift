/// Why the load tool could not go on, as a sentence.
public struct LoadError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
