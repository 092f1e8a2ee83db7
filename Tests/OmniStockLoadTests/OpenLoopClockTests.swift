import OmniStockLoad
import Testing

/// Open loop must not skip or bunch sends: every intended time is handed out once, in order,
/// however late the I/O thread asks.
@Suite("Load tool: open-loop clock")
struct OpenLoopClockTests {
  @Test("1,000 per second: due times are 1 ms apart from the start, none skipped when asked late")
  func dueTimes() {
    let start = ContinuousClock.now
    var clock = OpenLoopClock(perSecond: 1_000, start: start)
    #expect(clock.due(by: start - .milliseconds(1), limit: 100).isEmpty)
    let first = clock.due(by: start + .microseconds(2_500), limit: 100)
    #expect(first == [start, start + .milliseconds(1), start + .milliseconds(2)])
    // Asked 10 ms later with room for only 4: the 4 oldest, the rest still due (a backlog).
    let late = clock.due(by: start + .microseconds(12_500), limit: 4)
    #expect(late == (3..<7).map { start + .milliseconds($0) })
    #expect(clock.backlog == 6)
    let rest = clock.due(by: start + .microseconds(12_500), limit: 100)
    #expect(rest == (7..<13).map { start + .milliseconds($0) })
    #expect(clock.backlog == 0)
  }
}
