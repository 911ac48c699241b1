// Transformer: the forward pass of a decoder-only (MoE) transformer with its KV cache.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "model/expert_provider.h"
#include "model/model.h"

namespace swapmoe {

// How the MoE layers routed, counted over (token, layer) pairs.
struct RoutingStats {
  uint64_t decisions = 0;  // (token, MoE layer) pairs routed
  uint64_t hits = 0;       // the unmasked top-k was entirely resident before the layer ran
  uint64_t faithful = 0;   // the masked top-k equals the unmasked top-k (as sets)
  double hit_rate() const { return decisions ? double(hits) / double(decisions) : 1.0; }
  double fidelity() const { return decisions ? double(faithful) / double(decisions) : 1.0; }
};

// One routing decision, for traces: the unmasked top-k of one token in one layer.
struct RoutingEvent {
  int64_t pos;
  int layer;
  int k;
  const int32_t* ids;
  const float* weights;
};

class Transformer {
 public:
  // n_ctx: KV cache length. n_ubatch: tokens evaluated together (prefill tile).
  // experts: nullptr uses the file map (every expert resident).
  Transformer(const Model& model, int64_t n_ctx, ThreadPool& pool, ExpertProvider* experts = nullptr,
              int64_t n_ubatch = 64);

  // Evaluates tokens at positions pos .. pos + n - 1 (the cache must hold 0 .. pos - 1).
  // logits: [n][n_vocab] when all_logits, else [n_vocab] for the last token only.
  void forward(std::span<const int32_t> tokens, int64_t pos, float* logits, bool all_logits);

  int64_t n_ctx() const { return n_ctx_; }
  const Model& model() const { return model_; }
  const RoutingStats& routing_stats() const { return stats_; }
  void reset_routing_stats() { stats_ = {}; }

  // Bytes this object allocated: KV cache and scratch.
  uint64_t kv_cache_bytes() const;
  uint64_t scratch_bytes() const;
  // Bytes a Transformer with these settings would allocate (for budget planning).
  static uint64_t kv_cache_bytes(const ModelConfig& c, int64_t n_ctx);
  static uint64_t scratch_bytes(const ModelConfig& c, int64_t n_ctx, int64_t n_ubatch, int n_threads);

  // Optional: sees every unmasked routing decision (--dump-routing).
  std::function<void(const RoutingEvent&)> on_routing;
  // Optional: replaces the router's unmasked choice (--replay-routing); returns false if the
  // trace has no entry for (pos, layer), in which case the router decides.
  std::function<bool(int64_t pos, int layer, int k, int32_t* ids, float* weights)> replay_routing;

 private:
  void forward_ubatch(const int32_t* tokens, int64_t n, int64_t pos, float* logits, bool all_logits);
  void attention(int layer, int64_t n, int64_t pos);
  void moe(int layer, int64_t n, int64_t pos);
  void dense_ffn(int layer, int64_t n);

  const Model& model_;
  const ModelConfig& cfg_;
  int64_t n_ctx_;
  int64_t n_ubatch_;
  ThreadPool& pool_;
  MappedExperts mapped_;
  ExpertProvider* experts_;
  RoutingStats stats_;

  // KV cache: [n_layer][n_ctx][n_head_kv * head_dim], f32, keys after RoPE.
  std::vector<float> k_cache_, v_cache_;
  // Scratch, sized for n_ubatch tokens.
  std::vector<float> x_, xn_, q_, k_, v_, attn_, tmp_;  // [n_ubatch][...]
  std::vector<float> x_norm_;                           // [n_ubatch]
  std::vector<float> scores_;                           // [n_threads][n_ctx]
  std::vector<float> rope_;                             // [n_ubatch][n_rot]
  std::vector<float> router_;                           // [n_ubatch][n_expert]
  std::vector<int32_t> topk_ids_, masked_ids_;          // [n_ubatch][k]
  std::vector<float> topk_w_, masked_w_;                // [n_ubatch][k]
  std::vector<float> gathered_, gate_, up_, down_;      // expert inputs/outputs [n_ubatch][...]
  std::vector<float> moe_out_;                          // [n_ubatch][n_embd]
  std::vector<int32_t> expert_tokens_;                  // (token * k + choice) routed to one expert
  std::vector<int> n_masked_;                           // [n_ubatch] experts used per token
  std::vector<int32_t> token_ids_;                      // token index of each routed row
  QuantizedActivations xn_q_;                           // the MoE input, in the experts' vec_dot type
  std::vector<float> choice_out_;                       // [n_ubatch][k][n_embd] expert outputs
};

}  // namespace swapmoe
