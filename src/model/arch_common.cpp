// Pieces the architecture entries share: the weights of a decoder layer derived from its
// LayerDesc (what every entry would otherwise spell out again) and the checks MoE-only
// architectures make on their hyper-parameters.
#include <fmt/format.h>

#include "core/error.h"
#include "io/gguf.h"
#include "model/arch.h"

namespace swapmoe {

ModelConfig read_moe_only_config(const GgufFile& f) {
  ModelConfig c = ModelConfig::read_common(f);
  const std::string p = c.arch + ".";
  const std::string hint = "the file's metadata is incomplete; re-export the model";
  // llama.cpp requires these keys for the MoE-only architectures; without them it refuses the file.
  if (!f.find(p + "attention.layer_norm_rms_epsilon"))
    fail("model config", fmt::format("{}: {}attention.layer_norm_rms_epsilon is missing", f.path(), p), hint);
  if (c.n_expert == 0)
    fail("model config", fmt::format("{}: {}expert_count must be positive for {}", f.path(), p, c.arch), hint);
  if (c.n_rot != c.head_dim)
    fail("model config",
         fmt::format("{}: {}rope.dimension_count {} must equal the head size {}", f.path(), p, c.n_rot, c.head_dim),
         "partial RoPE is not part of this architecture; re-export the model");
  return c;
}

int64_t routed_expert_width(const ModelConfig& c) {
  return c.n_ff_exp > 0 ? c.n_ff_exp : (c.n_expert_used > 0 ? c.n_ff / c.n_expert_used : 0);
}

void require_positive_width(const GgufFile& f, int64_t width, const std::string& keys) {
  if (width <= 0)
    fail("model config", fmt::format("{}: {} must be positive", f.path(), keys),
         "the file's metadata is incomplete; re-export the model");
}

void require_heads_span_embedding(const ModelConfig& c, const GgufFile& f) {
  if (c.q_dim() != c.n_embd)
    fail("model config",
         fmt::format("{}: {}attention.key_length {} times head_count {} must equal embedding_length {}", f.path(),
                     c.arch + ".", c.head_dim, c.n_head, c.n_embd),
         "this architecture's attention projections are n_embd wide; re-export the model");
}

TensorSpec common_global_tensor(const ModelConfig& c, std::string_view name, bool output_may_be_tied) {
  if (name == "token_embd.weight") return TensorSpec::required({c.n_embd, c.n_vocab});
  if (name == "output_norm.weight") return TensorSpec::required({c.n_embd});
  if (name == "output.weight")
    return output_may_be_tied ? TensorSpec::optional({c.n_embd, c.n_vocab}) : TensorSpec::required({c.n_embd, c.n_vocab});
  return {};
}

TensorSpec attention_tensor(const ModelConfig& c, int il, std::string_view name) {
  const LayerDesc& l = c.layers[il];
  const int64_t e = c.n_embd;
  using S = TensorSpec;
  if (name == "attn_norm.weight") return S::required({e});
  if (name == "attn_q.weight") return S::required({e, c.q_dim()});
  if (name == "attn_k.weight" || name == "attn_v.weight") return S::required({e, c.kv_dim()});
  if (name == "attn_output.weight") return S::required({c.q_dim(), e});
  // llama.cpp loads q/k/v biases of any architecture when the file has them.
  if (name == "attn_q.bias") return S::optional({c.q_dim()});
  if (name == "attn_k.bias" || name == "attn_v.bias") return S::optional({c.kv_dim()});
  if (l.attn_out_bias && name == "attn_output.bias") return S::required({e});
  if (l.attn_sinks && name == "attn_sinks.weight") return S::required({c.n_head});
  if (l.qk_norm == QkNorm::PER_HEAD && (name == "attn_q_norm.weight" || name == "attn_k_norm.weight"))
    return S::required({c.head_dim});
  if (l.qk_norm == QkNorm::WHOLE && name == "attn_q_norm.weight") return S::required({c.q_dim()});
  if (l.qk_norm == QkNorm::WHOLE && name == "attn_k_norm.weight") return S::required({c.kv_dim()});
  return {};
}

TensorSpec ffn_tensor(const ModelConfig& c, int il, std::string_view name) {
  const LayerDesc& l = c.layers[il];
  const int64_t e = c.n_embd, ff = l.n_ff;
  using S = TensorSpec;
  if (name == (l.post_attn_norm ? "post_attention_norm.weight" : "ffn_norm.weight")) return S::required({e});
  if (!l.is_moe()) {
    if (name == "ffn_gate.weight" || name == "ffn_up.weight") return S::required({e, ff});
    if (name == "ffn_down.weight") return S::required({ff, e});
    return {};
  }
  if (name == "ffn_gate_inp.weight") return S::required({e, c.n_expert});
  if (name == "ffn_gate_exps.weight" || name == "ffn_up_exps.weight") return S::required({e, ff, c.n_expert});
  if (name == "ffn_down_exps.weight") return S::required({ff, e, c.n_expert});
  if (l.router_bias && name == "ffn_gate_inp.bias") return S::required({c.n_expert});
  if (l.expert_bias && (name == "ffn_gate_exps.bias" || name == "ffn_up_exps.bias"))
    return S::required({ff, c.n_expert});
  if (l.expert_bias && name == "ffn_down_exps.bias") return S::required({e, c.n_expert});
  if (l.ffn == FfnKind::MOE_SHARED) {
    const int64_t sh = l.n_ff_shared;
    if (name == "ffn_gate_shexp.weight" || name == "ffn_up_shexp.weight") return S::required({e, sh});
    if (name == "ffn_down_shexp.weight") return S::required({sh, e});
    if (l.shared_gate && name == "ffn_gate_inp_shexp.weight") return S::required({e, 1});  // a vector in GGUF
  }
  return {};
}

TensorSpec decoder_layer_tensor(const ModelConfig& c, int il, std::string_view name) {
  const TensorSpec s = attention_tensor(c, il, name);
  return s.need != TensorSpec::ABSENT ? s : ffn_tensor(c, il, name);
}

}  // namespace swapmoe
