/// The types of the records the server writes to its write-ahead log (the payloads are the
/// messages of `proto/omnistock/log/v1/log_records.proto`). Values never change.
public enum LogRecordType: UInt8, Sendable {
  /// `StockUpdatesRecord`: position changes applied together.
  case stockUpdates = 1
  /// `LocationRecord`: a location declared or replaced.
  case location = 2
  /// `GroupRecord`: a group declared or replaced.
  case group = 3
  /// `EventsRecord`: new events from devices, of one batch.
  case events = 4
  /// `ReservationRecord`: a reservation created, extended, committed, released or expired.
  case reservation = 5
}
