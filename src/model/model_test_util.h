// Test helpers for model/: synth files with one metadata key changed, and the loader's error.
#pragma once

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "core/error.h"
#include "io/gguf.h"
#include "model/model.h"

namespace swapmoe::test {

inline std::string model_temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("swapmoe_model_" + name + "_" + std::to_string(::getpid()) + ".gguf"))
      .string();
}

// `f` written again to `out` with metadata `key` replaced by `value` (removed when null).
inline void rewrite_gguf(const GgufFile& f, const std::string& key, const GgufValue* value, const std::string& out) {
  GgufWriter w;
  for (const auto& [k, v] : f.metadata())
    if (k != key) w.set(k, v);
  if (value) w.set(key, *value);
  for (const GgufTensorInfo& t : f.tensors())
    w.add_tensor(t.name, t.type, t.ne, [&](uint8_t* dst, size_t n) { std::memcpy(dst, f.mapped_data() + t.file_offset, n); });
  w.write(out);
}

// The error Model::load gives, or "loaded".
inline std::string model_load_error(const std::string& path) {
  try {
    Model::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "loaded";
}

}  // namespace swapmoe::test
