// libFuzzer's driver entry point (compiler-rt, FuzzerDriver.cpp), linked in by -sanitize=fuzzer.
// The fuzz executables call it from their own `main` (SwiftPM renames and re-exports a debug
// executable's `main`, so relying on libFuzzer's `main` does not link).
#ifndef OMNISTOCK_CLIBFUZZER_H
#define OMNISTOCK_CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
