// Expert prediction: the routing of the next MoE layers, guessed while the current one computes
// by applying their routers to the current hidden state (the residual stream before this layer's
// FFN, normalised with the target layer's own FFN norm). Consecutive layers' hidden states are
// close, so the guess is often right, and the experts it names can be read before they are asked
// for. Each prediction is scored against the routing it predicted (RoutingStats::recall).
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "model/blocks.h"

namespace swapmoe {

class ExpertPredictor {
 public:
  explicit ExpertPredictor(const Model& model);

  // At MoE layer `layer`, with the residual stream x [n][n_embd] of the tokens at `pos`: predicts
  // the next MoE layers (as deep as the provider prefetches, or the hooks record), hands the
  // first experts.prefetch_depth() of them to experts.prefetch() (nearest layer first) and keeps
  // each for scoring. Uses s.tmp, s.router, s.act and the top-k buffers, which the layer's own
  // MoE block overwrites afterwards.
  void predict(int layer, const float* x, const int64_t* pos, int64_t n, const RoutingHooks& hooks,
               ExpertProvider& experts, ForwardScratch& s, ThreadPool& pool);
  // The depth predict() reaches for this provider and these hooks (0: it does nothing).
  static int depth(const ExpertProvider& experts, const RoutingHooks& hooks);
  // The unmasked routing of `layer` ids [n][k]: scores the predictions made for it.
  void score(int layer, const int32_t* ids, int64_t n, int k, RoutingStats& stats);

 private:
  const Model& model_;
  std::vector<int> next_moe_;  // [layer] -> the next MoE layer after it, or -1
  // [depth - 1][layer]: the predicted ids [n][k] of the current step, empty when none.
  std::vector<std::vector<std::vector<int32_t>>> predicted_;
};

}  // namespace swapmoe
