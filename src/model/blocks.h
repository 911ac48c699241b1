// The blocks a forward pass is assembled from (eager, hand-written): attention variants, FFN
// variants and the MoE layer. Each works on one micro-batch of n tokens in ForwardScratch:
// attention reads s.xn and leaves its output (before the output projection) in s.attn; the FFN
// blocks read s.xn and leave their output in s.ffn_out.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <vector>
#include <functional>

#include "core/thread_pool.h"
#include "model/expert_provider.h"
#include "model/forward_scratch.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace swapmoe {

// y = W x for n rows of x, through `act` (x converted once to W's vec_dot type).
void linear(const TensorView& w, const float* x, int64_t n, float* y, QuantizedActivations& act, ThreadPool& pool);

// x[t][i] += b[i] for n rows of dim values; nothing when the bias is absent.
void add_bias(const TensorView& b, float* x, int64_t n, int64_t dim);

// Where the tokens of a micro-batch belong: token t goes to the KV cache kv[t] at position pos[t].
// One sequence's consecutive tokens (a prompt), or one token of each of several sequences (a
// batched decode step, where every weight, the experts above all, is read once for all of them).
struct TokenPlaces {
  KvCache* const* kv;  // [n]
  const int64_t* pos;  // [n]
  // Bidirectional attention (a vision model's image): token t sees positions 0..last[t] of its
  // cache, later ones included. nullptr: causal, each token sees up to its own position.
  const int64_t* last = nullptr;
};

struct LayerContext {
  const ModelConfig& c;
  const LayerDesc& desc;
  const LayerWeights& w;
  int layer;
  ForwardScratch& s;
  ThreadPool& pool;
  TokenPlaces at;
  bool flash_attn;  // RunShape::flash_attn
};

// Grouped-query attention of n tokens over their KV caches (l.at), with the
// layer's options (q/k norm, biases, sliding window) and the cache's types (f32, f16, q8_0).
void attention_gqa(const LayerContext& l, int64_t n);

// Multi-head latent attention (DeepSeek): the cache holds the normalised latent and the rotated
// shared key part; queries are absorbed into the latent space (attn_k_b) and outputs taken back
// to values (attn_v_b). Leaves n_head * head_dim_v_mla values per token in s.attn.
void attention_mla(const LayerContext& l, int64_t n);
// The softmax scale of MLA: 1/sqrt(head_dim_k_mla), times llama.cpp's RoPE-scaling mscale^2.
float mla_kq_scale(const ModelConfig& c);

// SwiGLU FFN: out = down(silu(gate x) * up x).
void dense_ffn(const LayerContext& l, int64_t n);

// How the MoE layers routed, counted over (token, layer) pairs.
struct RoutingStats {
  static constexpr int kMaxDepth = 4;  // prediction depths tracked (MoE layers ahead)
  uint64_t decisions = 0;  // (token, MoE layer) pairs routed
  uint64_t hits = 0;       // the unmasked top-k was entirely resident before the layer ran
  uint64_t faithful = 0;   // the masked top-k equals the unmasked top-k (as sets)
  // Routed choices (k per decision) whose expert was resident: with many small experts (top-8 of
  // 64) a whole top-k is rarely resident, so this is the hit rate that tells policies apart.
  uint64_t choices = 0, choice_hits = 0;
  // Per layer (sized on first use): decisions, hits and choice hits, for hit rates per layer.
  std::vector<uint64_t> layer_decisions, layer_hits, layer_choices, layer_choice_hits;
  // Prediction (--prefetch): routed choices scored against the prediction made `depth` MoE
  // layers earlier, and how many of them it contained. [depth - 1]; per layer for depth 1.
  std::array<uint64_t, kMaxDepth> predicted{}, predicted_right{};
  std::vector<uint64_t> layer_predicted, layer_predicted_right;

  double hit_rate() const { return decisions ? double(hits) / double(decisions) : 1.0; }
  double fidelity() const { return decisions ? double(faithful) / double(decisions) : 1.0; }
  double choice_hit_rate() const { return choices ? double(choice_hits) / double(choices) : 1.0; }
  // Share of the routed choices that the prediction `depth` layers ahead had named; NaN: none.
  double recall(int depth = 1) const {
    const uint64_t n = predicted[depth - 1];
    return n ? double(predicted_right[depth - 1]) / double(n) : std::numeric_limits<double>::quiet_NaN();
  }
  // One decision of `layer`: whether its whole top-k was resident, and how many of its k were.
  void count_layer(int layer, bool hit, int resident, int k) {
    if (layer_decisions.size() <= static_cast<size_t>(layer)) {
      for (auto* v : {&layer_decisions, &layer_hits, &layer_choices, &layer_choice_hits}) v->resize(layer + 1);
    }
    ++decisions;
    hits += hit;
    choices += k;
    choice_hits += resident;
    ++layer_decisions[layer];
    layer_hits[layer] += hit;
    layer_choices[layer] += k;
    layer_choice_hits[layer] += resident;
  }
};

// One routing decision, for traces: the unmasked top-k of one token in one layer.
struct RoutingEvent {
  int64_t pos;
  int layer;
  int k;
  const int32_t* ids;
  const float* weights;
};

// Optional observers of the router (--dump-routing, --replay-routing).
struct RoutingHooks {
  std::function<void(const RoutingEvent&)> on_routing;
  // Replaces the router's unmasked choice; returns false when it has no entry for (pos, layer).
  std::function<bool(int64_t pos, int layer, int k, int32_t* ids, float* weights)> replay_routing;
  // The expert predictor's guess for `layer`, made `depth` MoE layers ahead (see
  // expert_prediction.h): reported, and replaced from a trace, like the routing above. A replay on
  // another model's weights (a synth model at real widths) then prefetches what the trained
  // model predicted, not what random routers guess.
  std::function<void(int64_t pos, int layer, int depth, int k, const int32_t* ids, const float* weights)> on_prediction;
  std::function<bool(int64_t pos, int layer, int depth, int k, int32_t* ids, float* weights)> replay_prediction;
  int prediction_depth = 0;  // with on_prediction: depths predicted even when nothing prefetches
};

// The MoE layer: route (masked to the provider's usable experts), run each chosen expert on its
// tokens, sum in top-k order; plus the shared expert for MOE_SHARED layers.
void moe_ffn(const LayerContext& l, ExpertProvider& experts, const RoutingHooks& hooks, RoutingStats& stats,
             int64_t n);

}  // namespace swapmoe
