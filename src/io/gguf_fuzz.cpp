// libFuzzer entry for the GGUF parser: any input must parse or raise swapmoe::Error, never crash.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "io/gguf.h"

// The parser reads files by path, so each input goes through one scratch file per process.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/swapmoe_gguf_fuzz_" + std::to_string(::getpid()) + ".gguf";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    swapmoe::GgufFile g = swapmoe::GgufFile::open(path);
    // Touch every tensor through the map, as a loader would.
    for (const auto& t : g.tensors()) {
      swapmoe::TensorView v = g.tensor_view(t);
      volatile uint8_t sink = static_cast<const uint8_t*>(v.data)[v.n_bytes() - 1];
      (void)sink;
    }
  } catch (const swapmoe::Error&) {
  }
  return 0;
}
