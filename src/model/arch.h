// Architecture registry: one entry per GGUF `general.architecture`. An entry reads the
// hyper-parameters and per-layer description (ModelConfig) and says which of the weights that
// LayerWeights lists a layer has, with their shapes. Loading, dense copying, accounting and the
// synth writer all go through it, so a new architecture is one file (arch_<name>.cpp) plus one
// line in arch_registry.cpp. See docs/architecture.md for the checklist.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/model_config.h"

namespace swapmoe {

class GgufFile;

// Whether and how a weight appears in a model of this architecture.
struct TensorSpec {
  enum Need { ABSENT, OPTIONAL, REQUIRED } need = ABSENT;
  std::vector<int64_t> shape;  // GGUF ne

  static TensorSpec required(std::vector<int64_t> shape) { return {REQUIRED, std::move(shape)}; }
  static TensorSpec optional(std::vector<int64_t> shape) { return {OPTIONAL, std::move(shape)}; }
};

struct ArchEntry {
  const char* name;  // general.architecture
  // Hyper-parameters and layer descriptions; config.n_vocab is filled in by the loader.
  ModelConfig (*read_config)(const GgufFile& file);
  // Fills in the per-layer descriptions, RoPE mode and router rule from the hyper-parameters
  // (read_config calls it; the synth writer calls it on a config it made itself).
  void (*describe)(ModelConfig& config);
  // The spec of weight `name` (as LayerWeights::visit / Model::visit_globals name it) of layer
  // `layer`, or of a global weight when layer < 0.
  TensorSpec (*tensor)(const ModelConfig& config, int layer, std::string_view name);
};

// nullptr when the architecture is not supported.
const ArchEntry* find_arch(std::string_view name);
// Names of the architectures this build can run (for error hints).
std::vector<std::string> supported_architectures();

// ---- entries (one file each) --------------------------------------------------------------
extern const ArchEntry kArchLlama;

// ---- pieces shared by entries ---------------------------------------------------------------
// The weights outside the layers that every decoder has: token_embd, output_norm, output
// (optional: tied to token_embd when absent).
TensorSpec common_global_tensor(const ModelConfig& c, std::string_view name);

}  // namespace swapmoe
