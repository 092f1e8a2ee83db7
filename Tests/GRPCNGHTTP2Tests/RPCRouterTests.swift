@testable import GRPCNGHTTP2
import Testing

extension RPCRouter {
  fileprivate func testRouteIndex(_ path: String) -> Int? {
    var path = path
    return path.withUTF8 { routeIndex(forPath: UnsafeRawBufferPointer($0)) }
  }
}

@Suite("RPCRouter")
struct RPCRouterTests {
  @Test("routes are found by the exact bytes of the path, and nothing else")
  func lookup() {
    var router = RPCRouter()
    let get = RPCMethod(service: "a.v1.S", method: "Get")
    let put = RPCMethod(service: "a.v1.S", method: "Put")
    router.register(get, .unary { _, _, responder in responder.fail(GRPCStatus(.notFound)) })
    router.register(put, .unary { _, _, responder in responder.fail(GRPCStatus(.notFound)) })
    #expect(router.methods == [get, put])
    #expect(router.testRouteIndex("/a.v1.S/Get") == 0)
    #expect(router.testRouteIndex("/a.v1.S/Put") == 1)
    #expect(router.testRouteIndex("/a.v1.S/Ge") == nil)
    #expect(router.testRouteIndex("/a.v1.S/Gett") == nil)
    #expect(router.testRouteIndex("") == nil)
  }

  @Test("registering a method again replaces its handler, not adds a route")
  func replace() {
    var router = RPCRouter()
    let get = RPCMethod(service: "a.v1.S", method: "Get")
    router.register(get, .unary { _, _, responder in responder.fail(GRPCStatus(.notFound)) })
    router.register(get, .unary { _, _, responder in responder.fail(GRPCStatus(.internal)) })
    #expect(router.methods.count == 1)
  }
}
