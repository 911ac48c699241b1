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
extern const ArchEntry kArchQwen3Moe;
extern const ArchEntry kArchOlmoe;
extern const ArchEntry kArchQwen2Moe;
extern const ArchEntry kArchGptOss;
extern const ArchEntry kArchDeepseek2;
extern const ArchEntry kArchVmoe;

// ---- pieces shared by entries (arch_common.cpp) ------------------------------------------------
// The weights outside the layers that every decoder has: token_embd, output_norm, output (when
// output_may_be_tied, optional: tied to token_embd when absent).
TensorSpec common_global_tensor(const ModelConfig& c, std::string_view name, bool output_may_be_tied = true);
// A layer's weights as its LayerDesc says: attention (projections, optional q/k/v biases, q/k
// norms of the described kind) and FFN (dense SwiGLU, or router, stacked experts, shared expert
// and its gate). decoder_layer_tensor is either.
TensorSpec attention_tensor(const ModelConfig& c, int layer, std::string_view name);
TensorSpec ffn_tensor(const ModelConfig& c, int layer, std::string_view name);
TensorSpec decoder_layer_tensor(const ModelConfig& c, int layer, std::string_view name);
// read_common plus what llama.cpp checks for its MoE-only architectures (qwen3moe, olmoe,
// qwen2moe): the rms epsilon key present, experts present, RoPE over the whole head.
ModelConfig read_moe_only_config(const GgufFile& file);
// expert_feed_forward_length, or llama.cpp's fallback feed_forward_length / expert_used_count.
int64_t routed_expert_width(const ModelConfig& config);
// Fails naming `keys` (the FFN width's GGUF keys) when width is not positive.
void require_positive_width(const GgufFile& file, int64_t width, const std::string& keys);
// Fails naming the keys when the heads do not span n_embd (architectures whose attention
// projections llama.cpp sizes by n_embd: olmoe, qwen2moe).
void require_heads_span_embedding(const ModelConfig& config, const GgufFile& file);

}  // namespace swapmoe
