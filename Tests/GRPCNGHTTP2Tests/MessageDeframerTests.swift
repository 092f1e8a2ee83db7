import GRPCNGHTTP2
import NIOCore
import Testing

@Suite("MessageDeframer")
struct MessageDeframerTests {
  private func frame(_ payload: [UInt8], flag: UInt8 = 0) -> [UInt8] {
    let length = UInt32(payload.count)
    return [flag, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
      + payload
  }

  @Test("a message split across many chunks is reassembled")
  func splitMessage() throws {
    var deframer = MessageDeframer(maxMessageBytes: 1024)
    let bytes = frame(Array(0..<200))
    for byte in bytes.dropLast() {
      [byte].withUnsafeBytes { deframer.append($0) }
      #expect(try deframer.next() == nil)
    }
    bytes.suffix(1).withUnsafeBytes { deframer.append($0) }
    let message = try #require(try deframer.next())
    #expect(Array(message.readableBytesView) == Array(0..<200))
    #expect(try deframer.next() == nil)
    #expect(deframer.bufferedBytes == 0)
  }

  @Test("several messages in one chunk come out in order, including empty ones")
  func severalMessages() throws {
    var deframer = MessageDeframer(maxMessageBytes: 1024)
    let bytes = frame([1, 2, 3]) + frame([]) + frame([9])
    bytes.withUnsafeBytes { deframer.append($0) }
    #expect(try deframer.next().map { Array($0.readableBytesView) } == [1, 2, 3])
    #expect(try deframer.next().map { Array($0.readableBytesView) } == [])
    #expect(try deframer.next().map { Array($0.readableBytesView) } == [9])
    #expect(try deframer.next() == nil)
  }

  @Test("an oversize message is refused from its prefix alone, with RESOURCE_EXHAUSTED")
  func oversize() {
    var deframer = MessageDeframer(maxMessageBytes: 16)
    Array(frame(Array(repeating: 0, count: 17)).prefix(5)).withUnsafeBytes { deframer.append($0) }
    #expect(throws: GRPCStatus.self) { try deframer.next() }
    do {
      _ = try deframer.next()
    } catch {
      #expect(error.code == .resourceExhausted)
      #expect(error.message.contains("16"))
    }
  }

  @Test("a message exactly at the limit is accepted")
  func atLimit() throws {
    var deframer = MessageDeframer(maxMessageBytes: 16)
    frame(Array(repeating: 7, count: 16)).withUnsafeBytes { deframer.append($0) }
    #expect(try deframer.next()?.readableBytes == 16)
  }

  @Test("a compressed message is UNIMPLEMENTED; an invalid flag is INTERNAL")
  func flags() {
    var compressed = MessageDeframer(maxMessageBytes: 16)
    frame([1], flag: 1).withUnsafeBytes { compressed.append($0) }
    do {
      _ = try compressed.next()
      Issue.record("expected a throw")
    } catch {
      #expect(error.code == .unimplemented)
    }
    var invalid = MessageDeframer(maxMessageBytes: 16)
    frame([1], flag: 7).withUnsafeBytes { invalid.append($0) }
    do {
      _ = try invalid.next()
      Issue.record("expected a throw")
    } catch {
      #expect(error.code == .internal)
    }
  }
}
