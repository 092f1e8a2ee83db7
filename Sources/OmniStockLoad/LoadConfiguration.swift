/// What `omnistock load` drives (flags of the command, with their defaults).
public struct LoadConfiguration: Sendable {
  public var host = "127.0.0.1"
  public var port = 8980
  /// How long traffic runs.
  public var seconds = 10.0
  /// POS terminals (connections), each sending `ApplyEvents` batches.
  public var terminals = 2
  /// Batches each terminal keeps in flight.
  public var batchesInFlight = 4
  /// Events per batch.
  public var eventsPerBatch = 20
  /// Send batches as `ApplyEvents` calls instead of on one `StreamEvents` stream per terminal.
  public var unaryEvents = false
  /// Storefront clients (connections), each sending `GetAvailability` (and some batch reads).
  public var storefronts = 2
  /// Reads each storefront keeps in flight.
  public var readsInFlight = 16
  /// Every n-th read is a `BatchGetAvailability` of `batchReadSize` queries (0: none).
  public var batchReadEvery = 10
  public var batchReadSize = 20
  /// The catalogue and the network the run creates (its own SKUs, so stock starts at 0).
  public var skus = 10_000
  public var locations = 20
  /// Zipf exponent of SKU popularity.
  public var zipfExponent = 1.0
  public var seed: UInt64 = 42

  public init() {}
}
