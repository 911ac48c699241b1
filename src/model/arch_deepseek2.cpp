// The deepseek2 architecture (DeepSeek-V2, V2-Lite, and the V3-style options the same code path
// carries): multi-head latent attention (MLA) with an optional q LoRA, normal-mode RoPE on a
// split-off part of each head, leading dense layers, then MoE layers with shared experts, a
// softmax or sigmoid router, an optional selection bias (exp_probs_b), group-limited routing,
// and expert_weights_norm / expert_weights_scale. The KV cache holds the compressed latent, as
// llama.cpp's does (files converted with the split attn_k_b / attn_v_b; older files with one
// attn_kv_b are refused, llama.cpp runs those uncompressed).
#include <fmt/format.h>

#include "core/error.h"
#include "io/gguf.h"
#include "model/arch.h"

namespace swapmoe {

namespace {

// The widest MLA latent or head a file may state; real ones are a few hundred.
constexpr int64_t k_max_mla_width = 1 << 16;

void describe_deepseek2(ModelConfig& c) {
  c.rope_mode = RopeMode::NORMAL;
  c.rope_scaling.yarn_log_mul_is_mscale = true;  // llama.cpp's DeepSeek-V2 special case
  for (int64_t il = 0; il < c.n_layer; ++il) {
    LayerDesc l;
    l.attention = AttentionKind::MLA;
    if (il < c.n_layer_dense_lead) {
      l.ffn = FfnKind::DENSE;
      l.n_ff = c.n_ff;
    } else {
      l.ffn = FfnKind::MOE_SHARED;
      l.n_ff = c.n_ff_exp;
      l.n_ff_shared = c.n_ff_shexp;  // n_ff_exp * expert_shared_count (read_deepseek2)
      l.selection_bias = c.router.gating == GatingFn::SIGMOID;
    }
    c.layers.push_back(l);
  }
}

// llama.cpp's "lite" detection (DeepSeek-V2-Lite and its relatives): these never use a q LoRA,
// whatever attention.q_lora_rank says.
bool is_lite(const ModelConfig& c, const GgufFile& f) {
  int64_t n_vocab = static_cast<int64_t>(f.get_u64("deepseek2.vocab_size", 0));
  if (n_vocab == 0)
    if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens")) n_vocab = static_cast<int64_t>(tokens->as_array().values.size());
  return c.n_layer == 27 || c.n_layer == 26 || (c.n_layer == 48 && n_vocab == 128256);
}

ModelConfig read_deepseek2(const GgufFile& f) {
  ModelConfig c = ModelConfig::read_common(f);
  const std::string p = "deepseek2.";
  const std::string hint = "the file's metadata is incomplete or inconsistent; re-export the model";
  auto u = [&](const std::string& key) { return static_cast<int64_t>(f.get_u64(p + key)); };
  auto u_or = [&](const std::string& key, int64_t fallback) {
    return static_cast<int64_t>(f.get_u64(p + key, static_cast<uint64_t>(fallback)));
  };
  auto bad = [&](const std::string& what) { fail("model config", fmt::format("{}: {}", f.path(), what), hint); };

  if (!f.find(p + "attention.layer_norm_rms_epsilon")) bad(p + "attention.layer_norm_rms_epsilon is missing");
  if (!f.find(p + "attention.key_length_mla") || !f.find(p + "attention.value_length_mla"))
    fail("model config",
         fmt::format("{}: no {}attention.key_length_mla: converted before the MLA split (one attn_kv_b tensor)", f.path(), p),
         "re-convert with a current convert_hf_to_gguf.py, which writes attn_k_b and attn_v_b");
  c.kv_lora_rank = u("attention.kv_lora_rank");
  c.q_lora_rank = is_lite(c, f) ? 0 : u("attention.q_lora_rank");
  c.head_dim_k_mla = u("attention.key_length_mla");
  c.head_dim_v_mla = u("attention.value_length_mla");
  c.n_layer_dense_lead = u_or("leading_dense_block_count", 0);
  // Bounded before the sums and products below (DeepSeek-V3: 512, 1536, 192, 128).
  for (const int64_t width : {c.kv_lora_rank, c.q_lora_rank, c.head_dim_k_mla, c.head_dim_v_mla})
    if (width < 0 || width > k_max_mla_width)
      bad(fmt::format("MLA widths kv_lora_rank {}, q_lora_rank {}, key_length_mla {} and value_length_mla {} must be "
                      "between 0 and {}",
                      c.kv_lora_rank, c.q_lora_rank, c.head_dim_k_mla, c.head_dim_v_mla, k_max_mla_width));
  if (c.kv_lora_rank <= 0 || c.q_lora_rank < 0 || c.head_dim_v_mla <= 0 || c.qk_nope() < 1)
    bad(fmt::format("MLA sizes kv_lora_rank {} and key_length_mla {} (more than rope.dimension_count {}), "
                    "value_length_mla {} must be positive",
                    c.kv_lora_rank, c.head_dim_k_mla, c.n_rot, c.head_dim_v_mla));
  // The latent is one key/value "head": the converter writes its widths as the attention's.
  if (c.n_head_kv != 1 || c.head_dim != c.kv_lora_rank + c.n_rot ||
      u_or("attention.value_length", c.kv_lora_rank) != c.kv_lora_rank)
    bad(fmt::format("MLA needs head_count_kv 1, key_length kv_lora_rank + rope.dimension_count ({}) and "
                    "value_length kv_lora_rank ({}); got {}, {}",
                    c.kv_lora_rank + c.n_rot, c.kv_lora_rank, c.n_head_kv, c.head_dim));
  if (c.n_layer_dense_lead < 0 || c.n_layer_dense_lead > c.n_layer)
    bad(fmt::format("leading_dense_block_count {} is not between 0 and block_count {}", c.n_layer_dense_lead, c.n_layer));
  if (c.n_layer_dense_lead > 0 && c.n_ff <= 0) bad(p + "feed_forward_length must be positive for the dense layers");

  if (c.n_layer_dense_lead < c.n_layer) {
    if (c.n_expert <= 0) bad(p + "expert_count must be positive for the MoE layers");
    if (c.n_ff_exp <= 0) bad(p + "expert_feed_forward_length must be positive");
    const int64_t n_shared = u("expert_shared_count");
    if (n_shared <= 0 || n_shared > 4096) bad(p + "expert_shared_count must be between 1 and 4096");
    c.n_ff_shexp = c.n_ff_exp * n_shared;
  }
  const int64_t gating = u_or("expert_gating_func", 0);  // 0: absent, V2's softmax
  if (gating > 2) bad(fmt::format("expert_gating_func {} is not softmax (1) or sigmoid (2)", gating));
  c.router.gating = gating == 2 ? GatingFn::SIGMOID : GatingFn::SOFTMAX;
  c.router.normalize = f.get_bool(p + "expert_weights_norm", false);
  const double scale = f.get_f64(p + "expert_weights_scale", 0.0);
  c.router.scale = scale != 0.0 ? static_cast<float>(scale) : 1.0f;
  c.router.n_groups = static_cast<int>(u_or("expert_group_count", 0));
  c.router.n_groups_used = static_cast<int>(u_or("expert_group_used_count", 0));
  if (c.router.n_groups > 1 &&
      (c.router.n_groups >= c.n_expert || c.n_expert % c.router.n_groups != 0 || c.router.n_groups_used <= 0 ||
       c.router.n_groups_used >= c.router.n_groups))
    bad(fmt::format("expert_group_count {} must divide expert_count {} and exceed expert_group_used_count {} > 0",
                    c.router.n_groups, c.n_expert, c.router.n_groups_used));
  if (c.router.n_groups <= 1) c.router.n_groups = c.router.n_groups_used = 0;
  // YaRN (the published files: factor 40 over 4096 positions): of the yarn_* keys llama.cpp's
  // deepseek2 loader reads only the log multiplier (not read_yarn_keys' betas and factors), without
  // the converter's factor 0.1, and takes it as mscale too (describe_deepseek2, rope_params);
  // MLA's softmax scale follows from it (mla_kq_scale).
  c.rope_scaling.yarn_log_mul = static_cast<float>(f.get_f64(p + "rope.scaling.yarn_log_multiplier", 0.0) / 0.1);
  if (f.find(p + "attention.temperature_scale"))
    fail("model config", fmt::format("{}: attention temperature scaling is not supported", f.path()),
         "this option belongs to Mistral-Large files, not DeepSeek-V2/V3");
  describe_deepseek2(c);
  return c;
}

TensorSpec deepseek2_tensor(const ModelConfig& c, int il, std::string_view name) {
  if (il < 0) return common_global_tensor(c, name);
  using S = TensorSpec;
  const int64_t e = c.n_embd, heads = c.n_head, rank = c.kv_lora_rank;
  if (name == "attn_norm.weight") return S::required({e});
  if (c.q_lora_rank > 0) {
    if (name == "attn_q_a.weight") return S::required({e, c.q_lora_rank});
    if (name == "attn_q_a_norm.weight") return S::required({c.q_lora_rank});
    if (name == "attn_q_b.weight") return S::required({c.q_lora_rank, heads * c.head_dim_k_mla});
  } else if (name == "attn_q.weight") {
    return S::required({e, heads * c.head_dim_k_mla});
  }
  if (name == "attn_kv_a_mqa.weight") return S::required({e, rank + c.n_rot});
  if (name == "attn_kv_a_norm.weight") return S::required({rank});
  if (name == "attn_k_b.weight") return S::required({c.qk_nope(), rank, heads});
  if (name == "attn_v_b.weight") return S::required({rank, c.head_dim_v_mla, heads});
  if (name == "attn_output.weight") return S::required({heads * c.head_dim_v_mla, e});
  if (c.layers[il].selection_bias && name == "exp_probs_b.bias") return S::optional({c.n_expert});
  return ffn_tensor(c, il, name);
}

}  // namespace

const ArchEntry kArchDeepseek2{"deepseek2", read_deepseek2, describe_deepseek2, deepseek2_tensor};

}  // namespace swapmoe
