// ModelConfig: the hyper-parameters of a decoder-only transformer, read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>

namespace swapmoe {

class GgufFile;

struct ModelConfig {
  std::string arch;         // general.architecture, e.g. "llama"
  std::string name;         // general.name, if any
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;  // context the model was trained with
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;     // n_embd / n_head
  int64_t n_rot = 0;        // rotated dimensions per head
  int64_t n_ff = 0;         // dense FFN width (and expert width for Mixtral layouts)
  int64_t n_expert = 0;     // 0 for dense models
  int64_t n_expert_used = 0;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  float rms_eps = 1e-5f;

  bool is_moe() const { return n_expert > 0; }

  // Reads "<arch>.*" keys; throws swapmoe::Error naming a missing or inconsistent key.
  static ModelConfig from_gguf(const GgufFile& file);
};

}  // namespace swapmoe
