/// The rules for SKU, location, group and device identifiers (SPEC section 2): 1 to 64 bytes of
/// `[A-Za-z0-9._:/-]`.
public enum IdentifierRules {
  /// The longest identifier, in bytes.
  public static let maxLength = 64

  /// `nil` if `value` is a valid identifier, else a sentence saying what is wrong with `field`.
  public static func problem(with value: String, field: String, maxLength: Int = maxLength) -> String? {
    let utf8 = value.utf8
    if utf8.isEmpty { return "\(field) is empty; it must be 1 to \(maxLength) characters of [A-Za-z0-9._:/-]" }
    if utf8.count > maxLength {
      return "\(field) is \(utf8.count) bytes long; the limit is \(maxLength)"
    }
    // Native strings are checked over their contiguous bytes (the common case, and the fast one).
    let valid = utf8.withContiguousStorageIfAvailable { $0.allSatisfy(isAllowed) } ?? utf8.allSatisfy(isAllowed)
    guard valid else { return "\(field) '\(value)' contains a character outside [A-Za-z0-9._:/-]" }
    return nil
  }

  static func isAllowed(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
      UInt8(ascii: "/"), UInt8(ascii: "-"):
      true
    default:
      false
    }
  }
}
