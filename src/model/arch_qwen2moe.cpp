// The qwen2moe architecture (Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B): attention projections n_embd
// wide with q/k/v biases, NEOX-mode RoPE, and only MoE layers: softmax router, top-k
// probabilities used as they are (not renormalised), plus a shared expert of its own width
// (expert_shared_feed_forward_length) whose output is scaled per token by sigmoid(w . x)
// (ffn_gate_inp_shexp). The output head is never tied.
#include "io/gguf.h"
#include "model/arch.h"

namespace swapmoe {

namespace {

// llama.cpp's fallback: the shared expert is feed_forward_length wide.
int64_t shared_width(const ModelConfig& c) { return c.n_ff_shexp > 0 ? c.n_ff_shexp : c.n_ff; }

void describe_qwen2moe(ModelConfig& c) {
  c.rope_mode = RopeMode::NEOX;
  c.router = RouterRule{GatingFn::SOFTMAX, /*normalize=*/false, /*scale=*/1.0f};
  LayerDesc l;
  l.qkv_bias = true;
  l.ffn = FfnKind::MOE_SHARED;
  l.n_ff = routed_expert_width(c);
  l.n_ff_shared = shared_width(c);
  l.shared_gate = true;
  c.layers.assign(c.n_layer, l);
}

ModelConfig read_qwen2moe(const GgufFile& f) {
  ModelConfig c = read_moe_only_config(f);
  require_heads_span_embedding(c, f);
  require_positive_width(f, routed_expert_width(c), "qwen2moe.expert_feed_forward_length (or feed_forward_length)");
  require_positive_width(f, shared_width(c), "qwen2moe.expert_shared_feed_forward_length (or feed_forward_length)");
  describe_qwen2moe(c);
  return c;
}

TensorSpec qwen2moe_tensor(const ModelConfig& c, int il, std::string_view name) {
  return il < 0 ? common_global_tensor(c, name, /*output_may_be_tied=*/false) : decoder_layer_tensor(c, il, name);
}

}  // namespace

const ArchEntry kArchQwen2Moe{"qwen2moe", read_qwen2moe, describe_qwen2moe, qwen2moe_tensor};

}  // namespace swapmoe
