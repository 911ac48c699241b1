// The llama architecture, with and without experts (Llama, Mistral, Mixtral): GQA attention with
// normal-mode RoPE, SwiGLU FFN or routed SwiGLU experts with softmax-top-k-renormalise routing.
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
  require_positive_width(f, c.n_ff, "llama.feed_forward_length");
  describe_llama(c);
  return c;
}

TensorSpec llama_tensor(const ModelConfig& c, int il, std::string_view name) {
  return il < 0 ? common_global_tensor(c, name) : decoder_layer_tensor(c, il, name);
}

}  // namespace

const ArchEntry kArchLlama{"llama", read_llama, describe_llama, llama_tensor};

}  // namespace swapmoe
