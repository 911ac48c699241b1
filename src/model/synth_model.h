// Synthetic models: GGUF files with random weights in real model shapes, of any architecture the
// registry has (arch.h), for tests and benchmarks that must go through the real loading code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "tensor/ggml_type.h"

namespace swapmoe {

struct SynthSpec {
  std::string name = "tiny";
  std::string arch = "llama";  // general.architecture; its registry entry decides the tensors
  int64_t n_vocab = 512;
  int64_t n_embd = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t n_head_kv = 2;
  int64_t head_dim = 0;  // 0: n_embd / n_head
  int64_t n_ff = 128;       // feed_forward_length (llama, olmoe: also the experts' width)
  int64_t n_ff_exp = 0;     // expert_feed_forward_length when non-zero (qwen3moe, qwen2moe)
  int64_t n_ff_shexp = 0;   // expert_shared_feed_forward_length when non-zero (qwen2moe)
  int64_t n_expert = 8;  // 0: dense llama
  int64_t n_expert_used = 2;
  int64_t n_ctx_train = 2048;
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  int64_t n_rot = 0;        // rotated dimensions per head (0: all of head_dim; deepseek2: the rope part)
  // deepseek2 (multi-head latent attention and DeepSeek routing; see ModelConfig)
  int64_t q_lora_rank = 0, kv_lora_rank = 0, head_dim_k_mla = 0, head_dim_v_mla = 0;
  int64_t n_layer_dense_lead = 0, n_expert_shared = 0;
  GatingFn gating = GatingFn::SOFTMAX;
  bool expert_weights_norm = false;
  float expert_weights_scale = 1.0f;
  int n_expert_groups = 0, n_expert_groups_used = 0;
  GgmlType type = GgmlType::F32;  // type of the matrices (norms stay f32)
  std::optional<GgmlType> expert_type;  // the routed experts' type when not `type` (gpt-oss: MXFP4)
  int64_t sliding_window = 0;     // attention.sliding_window (gpt-oss)
  float rope_yarn_factor = 0;     // rope.scaling.type yarn with this factor when non-zero
  int64_t rope_yarn_orig_ctx = 0; // rope.scaling.original_context_length
  // With YaRN, rope.scaling.yarn_log_multiplier (as converters write it: 0.1 mscale_all_dims),
  // yarn_beta_fast and yarn_beta_slow, each written when non-zero.
  float rope_yarn_log_mul = 0, rope_yarn_beta_fast = 0, rope_yarn_beta_slow = 0;
  bool tied_output = false;       // omit output.weight
  // vmoe (vision): square images of image_size pixels, patches of patch_size; n_vocab is then the
  // number of classes, n_ctx_train the tokens per image, and every other block is a MoE block.
  int64_t image_size = 0, patch_size = 0, n_channels = 1;
  uint64_t seed = 1;
};

// Presets: small shapes for tests ("tiny" and "tiny-dense" llama, "tiny-qwen3moe", "tiny-olmoe",
// "tiny-qwen2moe", "tiny-gptoss", "tiny-deepseek2" as V2-Lite, "tiny-deepseek2-v3" with V3's
// options, "tiny-deepseek2-yarn" as V2-Lite with YaRN, "tiny-vmoe" a vision MoE on 28x28 grey images) and real models' shapes in their own architectures ("mixtral-8x7b", "qwen3-30b-a3b",
// "olmoe-1b-7b", "qwen1.5-moe-a2.7b", "gpt-oss-20b", "gpt-oss-120b", "deepseek-v2-lite", "vmoe-b16" V-MoE-B/16 on 224x224 RGB images).
SynthSpec synth_preset(const std::string& name);
std::vector<std::string> synth_preset_names();

// The configuration a loader reads back from the file the spec describes (n_vocab included);
// throws naming the problem when the architecture is unknown or the shape is not one it allows.
ModelConfig synth_config(const SynthSpec& spec);

// Writes the model with a byte-level vocabulary (byte tokens plus filler pieces) so that any
// text can be tokenized. n_threads generate and quantise weights in parallel.
void write_synth_model(const SynthSpec& spec, const std::string& path, int n_threads);

// Bytes the file's tensors will take.
uint64_t synth_tensor_bytes(const SynthSpec& spec);

// The matrices written in another type than the one asked for, as "name: type": those whose rows
// are narrower than the asked type's blocks, written as llama-quantize writes them (q4_K -> q5_0,
// q5_K -> q5_1, q6_K -> q8_0, q2_K/q3_K -> q4_0, iq4_xs -> iq4_nl; f16 when that fails too).
std::vector<std::string> synth_type_fallbacks(const SynthSpec& spec);

}  // namespace swapmoe
