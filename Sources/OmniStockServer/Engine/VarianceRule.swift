import OmniStockAPI

/// When a count's variance is an exception (`Location.count_variance_units` and
/// `count_variance_percent`): at or above either threshold that is set; with neither set, the
/// defaults (3 units or 20%).
enum VarianceRule {
  static let defaultUnits: Int64 = 3
  static let defaultPercent = 20.0

  static func isException(variance: Int64, expected: Int64, location: Omnistock_V1_Location) -> Bool {
    guard variance != 0 else { return false }
    var units = location.countVarianceUnits
    var percent = location.countVariancePercent
    if units == 0 && percent == 0 {
      units = defaultUnits
      percent = defaultPercent
    }
    if units > 0 && variance.magnitude >= units.magnitude { return true }
    if percent > 0 {
      if expected == 0 { return true }
      return Double(variance.magnitude) * 100 >= percent * Double(expected.magnitude)
    }
    return false
  }
}
