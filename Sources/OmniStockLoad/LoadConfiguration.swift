/// What `omnistock load` drives (flags of the command, with their defaults).
public struct LoadConfiguration: Sendable {
  public var host = "127.0.0.1"
  public var port = 8980
  /// How long traffic runs.
  public var seconds = 10.0

  // MARK: POS terminals
  /// POS terminals (connections), each sending event batches. Terminal t owns the locations
  /// l with l % terminals == t (when there are at least as many locations as terminals).
  public var terminals = 2
  /// Batches each terminal keeps in flight (closed loop).
  public var batchesInFlight = 4
  /// Open loop: events per second over all terminals (nil: closed loop).
  public var eventsPerSecond: Double?
  /// Events per batch.
  public var eventsPerBatch = 20
  /// Send batches as `ApplyEvents` calls instead of on one `StreamEvents` stream per terminal.
  public var unaryEvents = false
  /// Share of events that are cycle counts, in percent (StreamEvents only, where a terminal's
  /// events apply in order; counts go to long-tail SKUs, never to the stocked ones carts use).
  public var countPercent = 1.0

  // MARK: Storefronts
  /// Storefront clients (connections), each sending `GetAvailability` (and some batch reads).
  public var storefronts = 2
  /// Reads each storefront keeps in flight (closed loop).
  public var readsInFlight = 16
  /// Open loop: reads per second over all storefronts (nil: closed loop).
  public var readsPerSecond: Double?
  /// Every n-th read is a `BatchGetAvailability` of `batchReadSize` queries (0: none).
  public var batchReadEvery = 10
  public var batchReadSize = 20

  // MARK: Shoppers (reservations)
  /// Order-management clients (connections) placing carts: Reserve, then Commit (or Release).
  public var shoppers = 0
  /// Carts each shopper keeps in flight (closed loop).
  public var cartsInFlight = 2
  /// Open loop: carts per second over all shoppers (nil: closed loop).
  public var cartsPerSecond: Double?
  /// Lines per cart: 1 to this many, each a group line over all the run's locations.
  public var cartLines = 3
  /// Share of carts released instead of committed, in percent.
  public var releasePercent = 10.0

  // MARK: Watchers
  /// `WatchAvailability` streams (one connection each), each on the hottest `watchedSKUs` SKUs at
  /// every location of the run.
  public var watchers = 0
  public var watchedSKUs = 10

  // MARK: Catalogue
  /// The catalogue and the network the run creates (its own SKUs, so stock starts at 0).
  public var skus = 10_000
  public var locations = 20
  /// Before traffic starts, the hottest `stockedSKUs` SKUs receive `initialStock` units at every
  /// location (so carts find stock).
  public var stockedSKUs = 1_000
  public var initialStock: Int64 = 1_000
  /// Zipf exponent of SKU popularity.
  public var zipfExponent = 1.0
  public var seed: UInt64 = 42

  // MARK: The client
  /// Threads the client's connections share, each running one epoll loop (like h2load's `-t`).
  public var ioThreads = 1

  public init() {}

  /// Whether terminals send counts: only where one terminal owns each position and its events
  /// apply in order, so the ledger knows what a count leaves behind.
  public var countsEnabled: Bool {
    countPercent > 0 && !unaryEvents && terminals <= locations && skus > stockedSKUs
  }

  /// How terminals, storefronts and shoppers schedule their calls (per connection).
  var terminalSchedule: ArrivalSchedule {
    if let eventsPerSecond { return .openLoop(perSecond: eventsPerSecond / Double(eventsPerBatch) / Double(max(1, terminals))) }
    return .closedLoop(inFlight: batchesInFlight)
  }
  var storefrontSchedule: ArrivalSchedule {
    if let readsPerSecond { return .openLoop(perSecond: readsPerSecond / Double(max(1, storefronts))) }
    return .closedLoop(inFlight: readsInFlight)
  }
  var shopperSchedule: ArrivalSchedule {
    if let cartsPerSecond { return .openLoop(perSecond: cartsPerSecond / Double(max(1, shoppers))) }
    return .closedLoop(inFlight: cartsInFlight)
  }
}
