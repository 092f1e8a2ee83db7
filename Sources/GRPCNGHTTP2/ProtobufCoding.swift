public import NIOCore
public import SwiftProtobuf

/// Turns protobuf messages into gRPC message payloads and back, with statuses a client can act on.
public enum ProtobufCoding {
  /// Decodes a request payload; a malformed one is `INVALID_ARGUMENT` naming the expected type.
  public static func decode<Message: SwiftProtobuf.Message>(
    _ payload: ByteBuffer, as type: Message.Type = Message.self
  ) throws(GRPCStatus) -> Message {
    do {
      return try Message(serializedBytes: payload.readableBytesSpan)
    } catch {
      throw GRPCStatus(.invalidArgument, "the request is not a valid \(Message.protoMessageName) message: \(error)")
    }
  }

  /// Encodes a response message; failure (only possible for missing required fields) is `INTERNAL`.
  public static func encode(_ message: some SwiftProtobuf.Message) throws(GRPCStatus) -> [UInt8] {
    do {
      return try message.serializedBytes()
    } catch {
      throw GRPCStatus(.internal, "could not encode the \(type(of: message).protoMessageName) response: \(error)")
    }
  }
}
