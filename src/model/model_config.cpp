#include "model/model_config.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "core/error.h"
#include "io/gguf.h"

namespace swapmoe {

int64_t ModelConfig::n_moe_layers() const {
  int64_t n = 0;
  for (const LayerDesc& l : layers) n += l.is_moe();
  return n;
}

int64_t ModelConfig::max_ff() const {
  int64_t m = 0;
  for (const LayerDesc& l : layers) m = std::max({m, l.n_ff, l.n_ff_shared});
  return m;
}

namespace {

// The keys every architecture reads in llama.cpp (llama_model::load_hparams).
RopeScaling read_rope_scaling(const GgufFile& f, const std::string& p) {
  RopeScaling r;
  const std::string type = f.get_string(p + "rope.scaling.type", "linear");
  if (type == "none") r.type = RopeScalingType::NONE;
  else if (type == "linear") r.type = RopeScalingType::LINEAR;
  else if (type == "yarn") r.type = RopeScalingType::YARN;
  else
    fail("model config", fmt::format("{}: {}rope.scaling.type '{}' is not supported", f.path(), p, type),
         "supported: none, linear, yarn; use a file converted without that RoPE scaling");
  r.factor = static_cast<float>(f.get_f64(p + "rope.scaling.factor", f.get_f64(p + "rope.scale_linear", 0.0)));
  r.n_ctx_orig = static_cast<int64_t>(f.get_u64(p + "rope.scaling.original_context_length", 0));
  r.attn_factor = static_cast<float>(f.get_f64(p + "rope.scaling.attn_factor", 1.0));
  if (r.factor < 0 || !(r.attn_factor > 0) || r.n_ctx_orig < 0)
    fail("model config",
         fmt::format("{}: {}rope.scaling.factor {} and attn_factor {} must be positive", f.path(), p, r.factor,
                     r.attn_factor),
         "the file's metadata is inconsistent; re-export the model");
  return r;
}

}  // namespace

void read_yarn_keys(const GgufFile& f, ModelConfig& c) {
  const std::string p = c.arch + ".rope.scaling.";
  RopeScaling& r = c.rope_scaling;
  r.yarn_ext_factor = static_cast<float>(f.get_f64(p + "yarn_ext_factor", r.yarn_ext_factor));
  r.yarn_attn_factor = static_cast<float>(f.get_f64(p + "yarn_attn_factor", r.yarn_attn_factor));
  r.yarn_beta_fast = static_cast<float>(f.get_f64(p + "yarn_beta_fast", r.yarn_beta_fast));
  r.yarn_beta_slow = static_cast<float>(f.get_f64(p + "yarn_beta_slow", r.yarn_beta_slow));
  r.yarn_log_mul = static_cast<float>(f.get_f64(p + "yarn_log_multiplier", r.yarn_log_mul));
}

ModelConfig ModelConfig::read_common(const GgufFile& f) {
  ModelConfig c;
  c.arch = f.get_string("general.architecture");
  c.name = f.get_string("general.name", "");
  const std::string p = c.arch + ".";
  const std::string where = "model config";
  const std::string hint = "the file's metadata is inconsistent; re-export the model";
  // Every size is checked against a limit, naming its key, as it is read: before any product of
  // them (a corrupt u64 would overflow int64 arithmetic) and before anything is sized from them.
  auto sized = [&](const char* key, std::optional<int64_t> fallback, int64_t lo, int64_t hi) {
    const uint64_t v = fallback ? f.get_u64(p + key, static_cast<uint64_t>(*fallback)) : f.get_u64(p + key);
    if (v < static_cast<uint64_t>(lo) || v > static_cast<uint64_t>(hi))
      fail(where, fmt::format("{}: {}{} is {}, outside {}..{}", f.path(), p, key, v, lo, hi),
           v > static_cast<uint64_t>(hi) ? "no real model comes near that size; the file is corrupt or not a model"
                                         : hint);
    return static_cast<int64_t>(v);
  };
  c.n_embd = sized("embedding_length", {}, 1, 1 << 20);
  c.n_layer = sized("block_count", {}, 1, 4096);
  c.n_head = sized("attention.head_count", {}, 1, 4096);
  c.n_head_kv = sized("attention.head_count_kv", c.n_head, 1, 4096);
  c.n_ff = sized("feed_forward_length", 0, 0, 1 << 24);  // architectures without dense layers may omit it
  c.n_ctx_train = sized("context_length", 2048, 1, int64_t{1} << 40);  // informational: the run uses -c
  c.n_expert = sized("expert_count", 0, 0, 4096);
  c.n_expert_used = sized("expert_used_count", 0, 0, 4096);
  c.rope_freq_base = static_cast<float>(f.get_f64(p + "rope.freq_base", 10000.0));
  c.rms_eps = static_cast<float>(f.get_f64(p + "attention.layer_norm_rms_epsilon", 1e-5));
  c.n_ff_exp = sized("expert_feed_forward_length", 0, 0, 1 << 24);
  c.n_ff_shexp = sized("expert_shared_feed_forward_length", 0, 0, 1 << 24);
  c.rope_scaling = read_rope_scaling(f, p);
  if (c.n_embd % c.n_head != 0 && !f.find(p + "attention.key_length"))
    fail(where, fmt::format("{}: embedding_length {} is not a multiple of head_count {}", f.path(), c.n_embd, c.n_head), hint);
  if (c.n_head % c.n_head_kv != 0)
    fail(where, fmt::format("{}: head_count {} is not a multiple of head_count_kv {}", f.path(), c.n_head, c.n_head_kv), hint);
  // Heads may be wider than n_embd / n_head (Qwen3-style); key_length says so when present.
  c.head_dim = sized("attention.key_length", c.n_embd / c.n_head, 1, 4096);
  // MLA files (attention.kv_lora_rank) write the latent's widths: key_length = kv_lora_rank +
  // n_rot, value_length = kv_lora_rank; their architecture entry checks them.
  const bool mla = f.find(p + "attention.kv_lora_rank") != nullptr;
  if (!mla && sized("attention.value_length", c.head_dim, 1, 4096) != c.head_dim)
    fail(where, fmt::format("{}: attention.key_length {} must equal value_length", f.path(), c.head_dim), hint);
  c.n_rot = sized("rope.dimension_count", c.head_dim, 1, 4096);
  if (c.n_rot > c.head_dim || c.n_rot % 2 != 0)
    fail(where, fmt::format("{}: rope.dimension_count {} must be even and at most the head size {}", f.path(), c.n_rot, c.head_dim), hint);
  if (c.n_expert_used > c.n_expert || (c.n_expert > 0 && c.n_expert_used == 0))
    fail(where, fmt::format("{}: expert_used_count {} must be between 1 and expert_count {}", f.path(), c.n_expert_used, c.n_expert), hint);
  if (!(c.rms_eps > 0) || !(c.rope_freq_base > 0))
    fail(where, fmt::format("{}: rms epsilon and rope.freq_base must be positive", f.path()), hint);
  return c;
}

}  // namespace swapmoe
