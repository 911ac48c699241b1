#include "model/expert_prediction.h"

#include <algorithm>

#include "model/ops.h"
#include "model/router.h"

namespace swapmoe {

ExpertPredictor::ExpertPredictor(const Model& model) : model_(model) {
  const int n_layer = static_cast<int>(model.layers.size());
  next_moe_.assign(n_layer, -1);
  for (int l = n_layer - 2; l >= 0; --l) next_moe_[l] = model.layers[l + 1].is_moe ? l + 1 : next_moe_[l + 1];
  predicted_.assign(RoutingStats::kMaxDepth, std::vector<std::vector<int32_t>>(n_layer));
}

int ExpertPredictor::depth(const ExpertProvider& experts, const RoutingHooks& hooks) {
  const int recorded = hooks.on_prediction ? hooks.prediction_depth : 0;
  return std::min(std::max(experts.prefetch_depth(), recorded), RoutingStats::kMaxDepth);
}

void ExpertPredictor::predict(int layer, const float* x, const int64_t* pos, int64_t n, const RoutingHooks& hooks,
                              ExpertProvider& experts, ForwardScratch& s, ThreadPool& pool) {
  const ModelConfig& c = model_.config();
  const int k = static_cast<int>(c.n_expert_used);
  const int64_t E = c.n_expert, d = c.n_embd;
  const int prefetch_depth = experts.prefetch_depth();
  int target = layer;
  for (int ahead = 1; ahead <= depth(experts, hooks); ++ahead) {
    target = next_moe_[target];
    if (target < 0) return;
    const LayerWeights& w = model_.layers[target];
    bool computed = false;  // the router runs once for all tokens, and only if a trace lacks one
    for (int64_t t = 0; t < n; ++t) {
      int32_t* ids = &s.topk_ids[t * k];
      float* weights = &s.topk_w[t * k];
      if (hooks.replay_prediction && hooks.replay_prediction(pos[t], target, ahead, k, ids, weights)) continue;
      if (!computed) {
        for (int64_t u = 0; u < n; ++u)
          rms_norm(x + u * d, static_cast<const float*>(w.ffn_input_norm().data), &s.tmp[u * d], d, c.rms_eps);
        linear(w.router, s.tmp.data(), n, s.router.data(), s.act, pool);
        add_bias(w.router_b, s.router.data(), n, E);
        computed = true;
      }
      route(c.router, &s.router[t * E], E, k, nullptr, ids, weights, static_cast<const float*>(w.exp_probs_b.data));
    }
    if (hooks.on_prediction)
      for (int64_t t = 0; t < n; ++t) hooks.on_prediction(pos[t], target, ahead, k, &s.topk_ids[t * k], &s.topk_w[t * k]);
    if (ahead <= prefetch_depth) experts.prefetch(target, n, k, s.topk_ids.data(), s.topk_w.data());
    predicted_[ahead - 1][target].assign(s.topk_ids.begin(), s.topk_ids.begin() + n * k);
  }
}

void ExpertPredictor::score(int layer, const int32_t* ids, int64_t n, int k, RoutingStats& stats) {
  for (int ahead = 1; ahead <= RoutingStats::kMaxDepth; ++ahead) {
    std::vector<int32_t>& p = predicted_[ahead - 1][layer];
    if (static_cast<int64_t>(p.size()) != n * k) {
      p.clear();
      continue;
    }
    uint64_t right = 0;
    for (int64_t t = 0; t < n; ++t)
      for (int j = 0; j < k; ++j) right += std::find(&p[t * k], &p[t * k] + k, ids[t * k + j]) != &p[t * k] + k;
    stats.predicted[ahead - 1] += n * k;
    stats.predicted_right[ahead - 1] += right;
    if (ahead == 1) {
      if (stats.layer_predicted.size() <= static_cast<size_t>(layer))
        stats.layer_predicted.resize(layer + 1), stats.layer_predicted_right.resize(layer + 1);
      stats.layer_predicted[layer] += n * k;
      stats.layer_predicted_right[layer] += right;
    }
    p.clear();
  }
}

}  // namespace swapmoe
