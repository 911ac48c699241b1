// libFuzzer entry for the GGUF parser: any input must parse or raise swapmoe::Error, never crash.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "io/fuzz_input_file.h"
#include "io/gguf_fuzz_mutator.h"
#include "io/gguf.h"

namespace {

// Reads a value through every checked accessor, as the loaders would: each must either answer
// or throw swapmoe::Error.
void read_every_way(const swapmoe::GgufValue& v) {
  auto attempt = [](auto&& f) {
    try {
      f();
    } catch (const swapmoe::Error&) {
    }
  };
  attempt([&] { (void)v.as_u64(); });
  attempt([&] { (void)v.as_i64(); });
  attempt([&] { (void)v.as_f64(); });
  attempt([&] { (void)v.as_bool(); });
  attempt([&] { (void)v.as_string(); });
  // An array's ends only: every element of a 300-token vocabulary, each throwing four times,
  // would slow the fuzzer tenfold for nothing new.
  attempt([&] {
    const auto& values = v.as_array().values;
    for (size_t i = 0; i < values.size(); i = i < 2 ? i + 1 : std::max(i + 1, values.size() - 1))
      read_every_way(values[i]);
  });
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return swapmoe::gguf_fuzz::mutate(data, size, max_size, seed);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = swapmoe::write_fuzz_input(data, size);
  try {
    swapmoe::GgufFile g = swapmoe::GgufFile::open(path);
    for (const auto& [key, value] : g.metadata()) read_every_way(value);
    // Touch every tensor's last byte through the map, as a loader would (a tensor with a zero
    // dimension has none).
    for (const auto& t : g.tensors()) {
      swapmoe::TensorView v = g.tensor_view(t);
      if (v.n_bytes() == 0) continue;
      volatile uint8_t sink = static_cast<const uint8_t*>(v.data)[v.n_bytes() - 1];
      (void)sink;
    }
  } catch (const swapmoe::Error&) {
  }
  return 0;
}
