// The qwen3moe architecture (Qwen3-30B-A3B, Qwen3-235B-A22B): GQA attention whose heads may be
// wider than n_embd / n_head (attention.key_length), an RMSNorm over each q and k head before
// NEOX-mode RoPE, and only MoE layers: softmax router, top-k renormalised (norm_topk_prob, which
// llama.cpp always applies for this architecture), no shared expert. The experts' width is
// expert_feed_forward_length, not the dense feed_forward_length.
#include "io/gguf.h"
#include "model/arch.h"

namespace swapmoe {

namespace {

void describe_qwen3moe(ModelConfig& c) {
  c.rope_mode = RopeMode::NEOX;
  c.router = RouterRule{GatingFn::SOFTMAX, /*normalize=*/true, /*scale=*/1.0f};
  LayerDesc l;
  l.qk_norm = QkNorm::PER_HEAD;
  l.ffn = FfnKind::MOE;
  l.n_ff = routed_expert_width(c);
  c.layers.assign(c.n_layer, l);
}

ModelConfig read_qwen3moe(const GgufFile& f) {
  ModelConfig c = read_moe_only_config(f);
  require_positive_width(f, routed_expert_width(c), "qwen3moe.expert_feed_forward_length (or feed_forward_length)");
  describe_qwen3moe(c);
  return c;
}

TensorSpec qwen3moe_tensor(const ModelConfig& c, int il, std::string_view name) {
  return il < 0 ? common_global_tensor(c, name) : decoder_layer_tensor(c, il, name);
}

}  // namespace

const ArchEntry kArchQwen3Moe{"qwen3moe", read_qwen3moe, describe_qwen3moe, qwen3moe_tensor};

}  // namespace swapmoe
