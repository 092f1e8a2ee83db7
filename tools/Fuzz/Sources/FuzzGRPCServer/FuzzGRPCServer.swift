// libFuzzer executable for the gRPC server connection (see `GRPCServerFuzzTarget`). Build it
// with `-sanitize=fuzzer` (which links libFuzzer); `tools/fuzz.sh` builds and runs it, and every
// libFuzzer flag works as usual (`fuzz-grpc-server -help=1`).
import CLibFuzzer
import FuzzTargets

#if canImport(Glibc)
import Glibc
#endif

@main
enum FuzzGRPCServer {
  static func main() {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
      GRPCServerFuzzTarget.run(UnsafeRawBufferPointer(start: data, count: size))
      return 0
    }
    exit(status)
  }
}
