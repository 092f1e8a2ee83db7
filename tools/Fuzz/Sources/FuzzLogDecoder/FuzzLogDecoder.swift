// libFuzzer executable for the write-ahead log's decoder and recovery (see
// `LogDecoderFuzzTarget`). Build it with `-sanitize=fuzzer` (which links libFuzzer);
// `tools/fuzz.sh` builds and runs it, and every libFuzzer flag works as usual
// (`fuzz-log-decoder -help=1`).
import CLibFuzzer
import FuzzTargets

#if canImport(Glibc)
import Glibc
#endif

@main
enum FuzzLogDecoder {
  static func main() {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
      LogDecoderFuzzTarget.run(UnsafeRawBufferPointer(start: data, count: size))
      return 0
    }
    LogDecoderFuzzTarget.cleanUp()
    exit(status)
  }
}
