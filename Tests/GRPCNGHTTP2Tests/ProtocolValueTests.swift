import GRPCNGHTTP2
import Testing

@Suite("grpc-timeout and grpc-message values")
struct ProtocolValueTests {
  @Test(
    "grpc-timeout units",
    arguments: [
      ("1H", Int64(3_600_000_000_000)), ("2M", 120_000_000_000), ("3S", 3_000_000_000), ("250m", 250_000_000),
      ("7u", 7_000), ("99999999n", 99_999_999), ("0m", 0),
    ])
  func timeoutUnits(value: String, nanoseconds: Int64) {
    #expect(GRPCTimeout.nanoseconds(value) == nanoseconds)
  }

  @Test("malformed grpc-timeout values are refused", arguments: ["", "S", "10", "123456789S", "1x", "-1S", "1 S"])
  func malformedTimeouts(value: String) {
    #expect(GRPCTimeout.nanoseconds(value) == nil)
  }

  @Test("the largest timeout saturates instead of overflowing")
  func saturates() {
    #expect(GRPCTimeout.nanoseconds("99999999H") == Int64.max)
  }

  @Test("grpc-message percent-encoding escapes non-printable bytes and '%', and round-trips")
  func percentEncoding() {
    let message = "stock 100% gone: ünïcode\nnext line"
    let encoded = PercentEncoding.encode(message)
    let text = String(decoding: encoded, as: UTF8.self)
    #expect(text.hasPrefix("stock 100%25 gone: %C3%BC"))
    #expect(!text.contains("\n"))
    #expect(encoded.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
    #expect(PercentEncoding.decode(encoded) == message)
  }

  @Test("percent-decoding keeps malformed escapes as they are")
  func lenientDecoding() {
    #expect(PercentEncoding.decode(Array("50%".utf8)) == "50%")
    #expect(PercentEncoding.decode(Array("%zz%4".utf8)) == "%zz%4")
  }

  @Test("status codes have their wire values and canonical names")
  func statusCodes() {
    #expect(GRPCStatusCode.allCases.map(\.rawValue) == Array(0...16))
    #expect(GRPCStatusCode.resourceExhausted.description == "RESOURCE_EXHAUSTED")
    #expect(GRPCStatus(.notFound, "x").description == "NOT_FOUND: x")
  }
}
