// The gpt-oss architecture (gpt-oss-20b, gpt-oss-120b; llama.cpp's LLM_ARCH_OPENAI_MOE): GQA with
// heads of attention.key_length (q wider than n_embd), q/k/v and output biases, a learned
// attention sink per head, sliding-window attention on alternating layers (the even ones unless
// attention.sliding_window_pattern says otherwise), NEOX RoPE with YaRN scaling; only MoE layers,
// the FFN input norm stored as post_attention_norm: a router with a bias whose top-k logits are
// softmaxed among themselves, experts with biases and the clamped SwiGLU (swiglu_oai). The
// published files hold the experts in MXFP4. The output head is never tied.
#include <fmt/format.h>

#include "core/error.h"
#include "io/gguf.h"
#include "model/arch.h"

namespace swapmoe {

namespace {

const std::string kHint = "the file's metadata is incomplete or inconsistent; re-export the model";

// Which layers use the sliding window: attention.sliding_window_pattern as an array of booleans
// (one a layer), or as a period n (layer il slides when il % n < n - 1; 0: every layer), 2 when
// absent, as llama.cpp's load_swa_pattern reads it.
std::vector<bool> swa_layers(const GgufFile& f, const ModelConfig& c) {
  const std::string key = c.arch + ".attention.sliding_window_pattern";
  std::vector<bool> swa(c.n_layer);
  const GgufValue* v = f.find(key);
  if (v && std::holds_alternative<GgufArray>(v->value)) {
    const GgufArray& a = v->as_array();
    if (static_cast<int64_t>(a.values.size()) != c.n_layer)
      fail("model config", fmt::format("{}: {} has {} entries for {} layers", f.path(), key, a.values.size(), c.n_layer),
           kHint);
    for (int64_t il = 0; il < c.n_layer; ++il) swa[il] = a.values[il].as_bool();
    return swa;
  }
  const uint64_t period = v ? v->as_u64() : 2;
  for (int64_t il = 0; il < c.n_layer; ++il) swa[il] = period == 0 || il % period < period - 1;
  return swa;
}

void describe_gptoss(ModelConfig& c) {
  c.rope_mode = RopeMode::NEOX;
  c.router = RouterRule{GatingFn::SOFTMAX, /*normalize=*/true, /*scale=*/1.0f};  // softmax of the top-k logits
  std::vector<LayerDesc> layers(c.n_layer);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    LayerDesc& l = layers[il];
    l.qkv_bias = true;
    l.attn_out_bias = true;
    l.attn_sinks = true;
    l.post_attn_norm = true;
    // llama.cpp's default pattern for gpt-oss: period 2, the even layers slide.
    const bool slides = c.swa_layers.empty() ? il % 2 == 0 : static_cast<bool>(c.swa_layers[il]);
    l.sliding_window = slides ? c.n_swa : 0;
    l.ffn = FfnKind::MOE;
    l.n_ff = c.n_ff_exp;
    l.act = FfnAct::SWIGLU_OAI;
    l.router_bias = true;
    l.expert_bias = true;
  }
  c.layers = std::move(layers);
}

ModelConfig read_gptoss(const GgufFile& f) {
  ModelConfig c = read_moe_only_config(f);
  const std::string p = c.arch + ".";
  // llama.cpp requires both keys for gpt-oss (no fallback width, no default window).
  if (!f.find(p + "expert_feed_forward_length"))
    fail("model config", fmt::format("{}: {}expert_feed_forward_length is missing", f.path(), p), kHint);
  require_positive_width(f, c.n_ff_exp, p + "expert_feed_forward_length");
  if (!f.find(p + "attention.sliding_window"))
    fail("model config", fmt::format("{}: {}attention.sliding_window is missing", f.path(), p), kHint);
  c.n_swa = static_cast<int64_t>(f.get_u64(p + "attention.sliding_window"));
  if (c.n_swa <= 0)
    fail("model config", fmt::format("{}: {}attention.sliding_window must be positive", f.path(), p), kHint);
  // The sliding layers could have a RoPE base of their own; gpt-oss files do not, and one RoPE
  // table serves every layer here, so a different base is refused rather than ignored.
  if (f.find(p + "rope.freq_base_swa") && static_cast<float>(f.get_f64(p + "rope.freq_base_swa")) != c.rope_freq_base)
    fail("model config", fmt::format("{}: {}rope.freq_base_swa differs from rope.freq_base", f.path(), p),
         "a RoPE base per layer kind is not supported; re-export without rope.freq_base_swa");
  c.swa_layers = swa_layers(f, c);
  describe_gptoss(c);
  return c;
}

TensorSpec gptoss_tensor(const ModelConfig& c, int il, std::string_view name) {
  return il < 0 ? common_global_tensor(c, name, /*output_may_be_tied=*/false) : decoder_layer_tensor(c, il, name);
}

}  // namespace

const ArchEntry kArchGptOss{"gpt-oss", read_gptoss, describe_gptoss, gptoss_tensor};

}  // namespace swapmoe
