// The llama architecture, with and without experts (Llama, Mistral, Mixtral): GQA attention with
// normal-mode RoPE, SwiGLU FFN or routed SwiGLU experts with softmax-top-k-renormalise routing.
#include <fmt/format.h>

#include "core/error.h"
#include "io/gguf.h"
#include "model/arch.h"

namespace swapmoe {

namespace {

void describe_llama(ModelConfig& c) {
  c.rope_mode = RopeMode::NORMAL;
  c.router = RouterRule{GatingFn::SOFTMAX, /*normalize=*/true, /*scale=*/1.0f};
  c.layers.assign(c.n_layer, LayerDesc{});
  for (LayerDesc& l : c.layers) {
    l.ffn = c.is_moe() ? FfnKind::MOE : FfnKind::DENSE;
    l.n_ff = c.n_ff;  // Mixtral's experts have the dense width
  }
}

ModelConfig read_llama(const GgufFile& f) {
  ModelConfig c = ModelConfig::read_common(f);
  if (c.n_ff <= 0)
    fail("model config", fmt::format("{}: llama.feed_forward_length must be positive", f.path()),
         "the file's metadata is incomplete; re-export the model");
  describe_llama(c);
  return c;
}

TensorSpec llama_tensor(const ModelConfig& c, int il, std::string_view name) {
  if (il < 0) return common_global_tensor(c, name);
  const LayerDesc& l = c.layers[il];
  const int64_t e = c.n_embd, ff = l.n_ff;
  using S = TensorSpec;
  if (name == "attn_norm.weight" || name == "ffn_norm.weight") return S::required({e});
  if (name == "attn_q.weight") return S::required({e, c.q_dim()});
  if (name == "attn_k.weight" || name == "attn_v.weight") return S::required({e, c.kv_dim()});
  if (name == "attn_output.weight") return S::required({c.q_dim(), e});
  if (l.is_moe()) {
    if (name == "ffn_gate_inp.weight") return S::required({e, c.n_expert});
    if (name == "ffn_gate_exps.weight" || name == "ffn_up_exps.weight") return S::required({e, ff, c.n_expert});
    if (name == "ffn_down_exps.weight") return S::required({ff, e, c.n_expert});
  } else {
    if (name == "ffn_gate.weight" || name == "ffn_up.weight") return S::required({e, ff});
    if (name == "ffn_down.weight") return S::required({ff, e});
  }
  return {};
}

}  // namespace

const ArchEntry kArchLlama{"llama", read_llama, describe_llama, llama_tensor};

}  // namespace swapmoe
