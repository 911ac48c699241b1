// ModelConfig: the hyper-parameters of a decoder-only transformer and a description of each of
// its layers (attention kind and options, FFN kind and widths), read from GGUF metadata by the
// architecture's entry in the registry (arch.h). The forward pass is assembled from this
// description; nothing downstream asks which architecture a model is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace swapmoe {

class GgufFile;

// How RoPE pairs dimensions: NORMAL rotates adjacent pairs (x[2i], x[2i+1]) as llama does, NEOX
// rotates halves (x[i], x[i + n_rot/2]) as GPT-NeoX, Qwen and OLMoE do.
enum class RopeMode { NORMAL, NEOX };

// RoPE scaling as the file states it ("<arch>.rope.scaling.*", llama.cpp's hparams); rope_params()
// (rope.h) turns it into the numbers the rotation uses, as llama.cpp's context does.
enum class RopeScalingType { NONE, LINEAR, YARN };
struct RopeScaling {
  RopeScalingType type = RopeScalingType::LINEAR;
  float factor = 0.0f;         // rope.scaling.factor (or rope.scale_linear); 0: none
  int64_t n_ctx_orig = 0;      // rope.scaling.original_context_length; context_length when absent
  float attn_factor = 1.0f;    // rope.scaling.attn_factor: multiplies cos and sin for every type
  // YaRN keys that only some architectures read in llama.cpp (their entries call
  // read_yarn_keys); the defaults are llama.cpp's. A negative ext_factor means "not set": 1 for
  // YaRN, 0 otherwise.
  float yarn_ext_factor = -1.0f;
  float yarn_attn_factor = 1.0f;
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
  float yarn_log_mul = 0.0f;           // rope.scaling.yarn_log_multiplier (mscale_all_dims)
  bool yarn_log_mul_is_mscale = false;  // DeepSeek-V2 takes mscale = log_mul as well
};

// How a router turns its logits into the chosen experts and their weights.
enum class GatingFn { SOFTMAX, SIGMOID };
struct RouterRule {
  GatingFn gating = GatingFn::SOFTMAX;
  bool normalize = true;  // top-k weights renormalised to sum 1 (Mixtral, Qwen3-MoE); false: raw probabilities
  float scale = 1.0f;     // weights multiplied by this afterwards (DeepSeek's expert_weights_scale)
  // Group-limited routing (DeepSeek-V3): the experts form n_groups equal groups, each scored by
  // the sum of its two best selection values; the top-k is chosen within the n_groups_used best
  // groups only. 0: no groups.
  int n_groups = 0;
  int n_groups_used = 0;
};

// GQA: grouped-query attention (MHA and MQA are special cases). MLA: DeepSeek's multi-head
// latent attention, whose KV cache holds one compressed latent and RoPE part per position.
enum class AttentionKind { GQA, MLA };
// RMSNorm of q and k after their projections, before RoPE: over each head (Qwen3, weights of
// head_dim) or over the whole projection (OLMoE, weights of q_dim and kv_dim).
enum class QkNorm { NONE, PER_HEAD, WHOLE };
enum class FfnKind { DENSE, MOE, MOE_SHARED };
// The gated activation of the FFN: silu(gate) * up, or gpt-oss's clamped variant
// min(gate, 7) * sigmoid(1.702 min(gate, 7)) * (clamp(up, -7, 7) + 1).
enum class FfnAct { SWIGLU, SWIGLU_OAI };

struct LayerDesc {
  AttentionKind attention = AttentionKind::GQA;
  QkNorm qk_norm = QkNorm::NONE;
  bool qkv_bias = false;       // biases on the q, k and v projections (Qwen2); optional in the file
  int64_t sliding_window = 0;  // attend to at most this many past positions, itself included (0: all)
  bool attn_sinks = false;     // a learned logit per head joins each softmax and takes its share (gpt-oss)
  bool attn_out_bias = false;  // a bias on the output projection (gpt-oss)
  bool post_attn_norm = false; // the FFN's input norm is stored as post_attention_norm (gpt-oss)
  FfnKind ffn = FfnKind::DENSE;
  int64_t n_ff = 0;            // dense FFN width, or the width of one routed expert
  int64_t n_ff_shared = 0;     // width of the shared expert (MOE_SHARED)
  bool shared_gate = false;    // the shared expert's output is scaled by sigmoid(w . x) (Qwen2-MoE)
  FfnAct act = FfnAct::SWIGLU;
  bool router_bias = false;    // a bias on the router logits (gpt-oss)
  bool expert_bias = false;    // biases on each routed expert's gate, up and down (gpt-oss)
  bool selection_bias = false; // the router may add a selection bias (exp_probs_b, DeepSeek-V3); optional in the file

  bool is_moe() const { return ffn != FfnKind::DENSE; }
};

// An image classifier's input (the `vmoe` architecture, docs/vmoe-format.md): square images cut
// into square patches, each patch one token after a class token; the class token's final state
// gives the class logits (n_vocab is then the number of classes).
struct VisionConfig {
  int64_t image_size = 0;  // pixels per side
  int64_t patch_size = 0;  // pixels per patch side; 0: not a vision model
  int64_t n_channels = 0;
  float mean = 0.0f, std = 1.0f;    // pixel normalisation: (p / 255 - mean) / std
  std::vector<bool> moe_layers;     // which blocks' MLPs are mixtures of experts
  std::vector<std::string> labels;  // class names, one per class

  int64_t patches_per_side() const { return patch_size ? image_size / patch_size : 0; }
  int64_t n_patches() const { return patches_per_side() * patches_per_side(); }
  int64_t n_tokens() const { return n_patches() + 1; }  // the class token, then the patches
  int64_t patch_values() const { return n_channels * patch_size * patch_size; }
  int64_t pixels() const { return n_channels * image_size * image_size; }
};

struct ModelConfig {
  std::string arch;         // general.architecture, e.g. "llama"
  std::string name;         // general.name, if any
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;  // context the model was trained with
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;     // n_embd / n_head unless attention.key_length says otherwise
  int64_t n_rot = 0;        // rotated dimensions per head
  int64_t n_ff = 0;         // feed_forward_length: dense FFN width
  int64_t n_ff_exp = 0;     // expert_feed_forward_length: one routed expert's width (0: absent)
  int64_t n_ff_shexp = 0;   // expert_shared_feed_forward_length: the shared expert's width (0: absent)
  int64_t n_expert = 0;     // routed experts per MoE layer; 0 for dense models
  int64_t n_expert_used = 0;
  float rope_freq_base = 10000.0f;
  RopeScaling rope_scaling;
  RopeMode rope_mode = RopeMode::NORMAL;
  float rms_eps = 1e-5f;
  RouterRule router;
  int64_t n_swa = 0;              // attention.sliding_window: the window of the sliding layers (0: none)
  std::vector<bool> swa_layers;   // which layers slide (attention.sliding_window_pattern); empty: the
                                  // architecture's default pattern
  std::vector<LayerDesc> layers;  // n_layer entries

  // Multi-head latent attention (AttentionKind::MLA; DeepSeek-V2/V3). The cache is one "head"
  // (n_head_kv = 1) of head_dim = kv_lora_rank + n_rot values: the normalised latent and the
  // rotated key part; its first kv_lora_rank values are also the values (no V cache).
  int64_t q_lora_rank = 0;      // 0: q projected directly (V2-Lite); else through a rank-r bottleneck
  int64_t kv_lora_rank = 0;     // the latent's width (0: no MLA)
  int64_t head_dim_k_mla = 0;   // a query/key head once decompressed: qk_nope + n_rot
  int64_t head_dim_v_mla = 0;   // a value head once decompressed
  int64_t n_layer_dense_lead = 0;  // leading layers with a dense FFN (leading_dense_block_count)

  VisionConfig vision;  // vision models only

  bool is_moe() const { return n_expert > 0; }
  bool is_vision() const { return vision.patch_size > 0; }
  int64_t n_moe_layers() const;
  int64_t max_ff() const;  // widest FFN or expert of any layer (scratch sizing)
  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
  bool is_mla() const { return kv_lora_rank > 0; }
  int64_t qk_nope() const { return head_dim_k_mla - n_rot; }  // MLA: a head's unrotated part
  // Values the KV cache holds per position and layer: keys, and values (none for MLA, whose
  // values are the first kv_lora_rank values of the key row).
  int64_t kv_cache_k_dim() const { return kv_dim(); }
  int64_t kv_cache_v_dim() const { return is_mla() ? 0 : kv_dim(); }
  // Attention output per token before the output projection.
  int64_t attn_out_dim() const { return is_mla() ? n_head * head_dim_v_mla : q_dim(); }

  // The "<arch>.*" keys every transformer has; throws swapmoe::Error naming a missing or
  // inconsistent key. Architecture entries call it, then fill in what is theirs.
  static ModelConfig read_common(const GgufFile& file);
};

// The YaRN keys of "<arch>.rope.scaling.*" that llama.cpp reads only for some architectures
// (yarn_ext_factor, yarn_attn_factor, yarn_beta_fast, yarn_beta_slow, yarn_log_multiplier):
// entries of those architectures call it after read_common.
void read_yarn_keys(const GgufFile& file, ModelConfig& config);

}  // namespace swapmoe
