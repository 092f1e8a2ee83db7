import Atomics

/// Per-location settings and freshness, one block of atomic words per location id, read without a
/// lock. Each word is read atomically; the words of one location are not read as a unit (settings
/// change rarely, and a reader mixing old and new settings sees a state that existed a moment
/// apart, never a torn number).
struct LocationTable {
  private static let wordsPerLocation = 8
  private static let declared: UInt64 = 1
  private static let active: UInt64 = 2
  let words: AtomicWords
  let capacity: Int

  init(capacity: Int) {
    self.capacity = capacity
    words = AtomicWords.allocate(count: capacity * Self.wordsPerLocation)
  }

  func deallocate() { words.deallocate() }

  @inline(__always)
  private func word(_ location: UInt32, _ index: Int) -> UnsafeAtomic<UInt64> {
    words[Int(location) * Self.wordsPerLocation + index]
  }

  func isDeclared(_ location: UInt32) -> Bool {
    word(location, 0).load(ordering: .acquiring) & Self.declared != 0
  }

  func settings(_ location: UInt32) -> LocationSettings {
    LocationSettings(
      defaultSafetyStock: Int64(bitPattern: word(location, 1).load(ordering: .relaxed)),
      lowStockThreshold: Int64(bitPattern: word(location, 2).load(ordering: .relaxed)),
      staleAfterSeconds: Int64(bitPattern: word(location, 3).load(ordering: .relaxed)),
      active: word(location, 0).load(ordering: .acquiring) & Self.active != 0)
  }

  func store(_ settings: LocationSettings, for location: UInt32, nowUnixMs: Int64) {
    if word(location, 5).load(ordering: .relaxed) == 0 {
      word(location, 5).store(UInt64(bitPattern: nowUnixMs), ordering: .relaxed)
    }
    word(location, 1).store(UInt64(bitPattern: settings.defaultSafetyStock), ordering: .relaxed)
    word(location, 2).store(UInt64(bitPattern: settings.lowStockThreshold), ordering: .relaxed)
    word(location, 3).store(UInt64(bitPattern: settings.staleAfterSeconds), ordering: .relaxed)
    word(location, 0).store(Self.declared | (settings.active ? Self.active : 0), ordering: .releasing)
  }

  /// Server time of the first change in the second of the location's last change, Unix ms
  /// (0 = never).
  func lastUpdateUnixMs(_ location: UInt32) -> Int64 {
    Int64(bitPattern: word(location, 4).load(ordering: .relaxed))
  }

  /// Records a change at `now`. Freshness has one-second resolution, so the word is stored only
  /// when the second changes: every store invalidates the cache line that every reader of this
  /// location loads, and a busy location would otherwise pay that on every write.
  func noteUpdate(_ location: UInt32, atUnixMs now: Int64) {
    let slot = word(location, 4)
    var current = slot.load(ordering: .relaxed)
    while Int64(bitPattern: current) / 1000 < now / 1000 {
      let (exchanged, original) = slot.weakCompareExchange(
        expected: current, desired: UInt64(bitPattern: now), ordering: .relaxed)
      if exchanged { return }
      current = original
    }
  }

  /// When the location was first declared, Unix ms.
  func declaredAtUnixMs(_ location: UInt32) -> Int64 {
    Int64(bitPattern: word(location, 5).load(ordering: .relaxed))
  }

  /// Whether the location is stale at `now`: no update for longer than its `stale_after`,
  /// counting from its declaration when it never had an update.
  func isStale(_ location: UInt32, nowUnixMs now: Int64) -> Bool {
    let last = lastUpdateUnixMs(location)
    let reference = last > 0 ? last : declaredAtUnixMs(location)
    let staleAfterMs = Int64(bitPattern: word(location, 3).load(ordering: .relaxed)) * 1000
    return now - reference > staleAfterMs
  }
}
