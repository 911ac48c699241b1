// The olmoe architecture (OLMoE-1B-7B): attention projections n_embd wide with an RMSNorm over
// the whole q and the whole k projection (not per head) before NEOX-mode RoPE, and only MoE
// layers: softmax router, top-k probabilities used as they are (not renormalised), no shared
// expert; the experts' width is feed_forward_length. The output head is never tied.
#include "io/gguf.h"
#include "model/arch.h"

namespace swapmoe {

namespace {

void describe_olmoe(ModelConfig& c) {
  c.rope_mode = RopeMode::NEOX;
  c.router = RouterRule{GatingFn::SOFTMAX, /*normalize=*/false, /*scale=*/1.0f};
  LayerDesc l;
  l.qk_norm = QkNorm::WHOLE;
  l.ffn = FfnKind::MOE;
  l.n_ff = c.n_ff;
  c.layers.assign(c.n_layer, l);
}

ModelConfig read_olmoe(const GgufFile& f) {
  ModelConfig c = read_moe_only_config(f);
  require_heads_span_embedding(c, f);
  require_positive_width(f, c.n_ff, "olmoe.feed_forward_length");
  describe_olmoe(c);
  return c;
}

TensorSpec olmoe_tensor(const ModelConfig& c, int il, std::string_view name) {
  return il < 0 ? common_global_tensor(c, name, /*output_may_be_tied=*/false) : decoder_layer_tensor(c, il, name);
}

}  // namespace

const ArchEntry kArchOlmoe{"olmoe", read_olmoe, describe_olmoe, olmoe_tensor};

}  // namespace swapmoe
