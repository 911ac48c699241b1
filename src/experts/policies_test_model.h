// The small MoE model the policy tests share: 16 experts, top-2, 3 layers, q8_0.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "model/synth_model.h"

namespace swapmoe {

// Writes the model to a temporary file named after `tag` and this process; returns its path.
inline std::string write_policies_test_model(const std::string& tag) {
  SynthSpec s = synth_preset("tiny");
  s.n_expert = 16;
  s.n_layer = 3;
  s.n_embd = 64;
  s.n_ff = 96;
  s.type = GgmlType::Q8_0;
  const std::string path =
      (std::filesystem::temp_directory_path() / ("swapmoe_" + tag + "_" + std::to_string(::getpid()) + ".gguf")).string();
  write_synth_model(s, path, 2);
  return path;
}

// Removes the model and the expert-norms cache written beside it.
inline void remove_policies_test_model(const std::string& path) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".expert-norms");
}

}  // namespace swapmoe
