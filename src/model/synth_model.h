// Synthetic models: GGUF files with random weights in real model shapes (llama/Mixtral layout),
// for tests and benchmarks that must go through the real loading code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/ggml_type.h"

namespace swapmoe {

struct SynthSpec {
  std::string name = "tiny";
  int64_t n_vocab = 512;
  int64_t n_embd = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t n_head_kv = 2;
  int64_t head_dim = 0;  // 0: n_embd / n_head
  int64_t n_ff = 128;
  int64_t n_expert = 8;  // 0: dense llama
  int64_t n_expert_used = 2;
  int64_t n_ctx_train = 2048;
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  GgmlType type = GgmlType::F32;  // type of the matrices (norms stay f32)
  bool tied_output = false;       // omit output.weight
  uint64_t seed = 1;
};

// Presets: "tiny", "tiny-dense", "olmoe-1b-7b", "mixtral-8x7b", "qwen3-30b-a3b".
SynthSpec synth_preset(const std::string& name);
std::vector<std::string> synth_preset_names();

// Writes the model with a byte-level vocabulary (byte tokens plus filler pieces) so that any
// text can be tokenized. n_threads generate and quantise weights in parallel.
void write_synth_model(const SynthSpec& spec, const std::string& path, int n_threads);

// Bytes the file's tensors will take.
uint64_t synth_tensor_bytes(const SynthSpec& spec);

}  // namespace swapmoe
