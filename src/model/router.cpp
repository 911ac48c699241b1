#include "model/router.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace swapmoe {

namespace {

// Indices of the k largest values among the allowed ones, in descending order.
int top_k(const float* v, int64_t n, int k, const uint8_t* allowed, int32_t* ids) {
  int chosen = 0;
  for (int64_t e = 0; e < n; ++e) {
    if (allowed && !allowed[e]) continue;
    int pos = chosen < k ? chosen : k;  // insertion into the sorted prefix ids[0..chosen)
    while (pos > 0 && v[ids[pos - 1]] < v[e]) --pos;
    if (pos >= k) continue;
    const int last = chosen < k ? chosen : k - 1;
    for (int j = last; j > pos; --j) ids[j] = ids[j - 1];
    ids[pos] = static_cast<int32_t>(e);
    if (chosen < k) ++chosen;
  }
  return chosen;
}

// DeepSeek-V3's routing, as llama.cpp computes it: probabilities (softmax or sigmoid) of every
// expert; selection values = probabilities + bias; with groups, only the n_groups_used groups
// with the best sums of their two best selection values stay; the top-k of the selection values
// are chosen and weighted by their probabilities (normalised by their sum, clamped as ggml does,
// when asked). Masked experts (allowed) take no part: a group is scored over its allowed experts.
int route_selected(const RouterRule& rule, const float* logits, int64_t n, int k, const uint8_t* allowed,
                   const float* bias, int32_t* ids, float* weights) {
  std::vector<float> probs(n), select(n);
  if (rule.gating == GatingFn::SIGMOID) {
    for (int64_t e = 0; e < n; ++e) probs[e] = 1.0f / (1.0f + std::exp(-logits[e]));
  } else {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t e = 0; e < n; ++e) max = std::max(max, logits[e]);
    double sum = 0;
    for (int64_t e = 0; e < n; ++e) sum += probs[e] = std::exp(logits[e] - max);
    for (int64_t e = 0; e < n; ++e) probs[e] = static_cast<float>(probs[e] / sum);
  }
  for (int64_t e = 0; e < n; ++e) select[e] = probs[e] + (bias ? bias[e] : 0.0f);
  std::vector<uint8_t> eligible(n, 1);
  if (allowed) std::copy(allowed, allowed + n, eligible.begin());
  if (rule.n_groups > 1) {
    const int64_t per_group = n / rule.n_groups;
    std::vector<float> group_score(rule.n_groups, -std::numeric_limits<float>::infinity());
    std::vector<uint8_t> group_has(rule.n_groups, 0);
    for (int g = 0; g < rule.n_groups; ++g) {
      int32_t best[2];
      const int found = top_k(&select[g * per_group], per_group, 2, &eligible[g * per_group], best);
      if (found == 0) continue;
      group_has[g] = 1;
      group_score[g] = 0;
      for (int j = 0; j < found; ++j) group_score[g] += select[g * per_group + best[j]];
    }
    std::vector<int32_t> groups(rule.n_groups_used);
    const int n_groups = top_k(group_score.data(), rule.n_groups, rule.n_groups_used, group_has.data(), groups.data());
    std::vector<uint8_t> keep(rule.n_groups, 0);
    for (int j = 0; j < n_groups; ++j) keep[groups[j]] = 1;
    for (int64_t e = 0; e < n; ++e) eligible[e] = eligible[e] && keep[e / per_group];
  }
  const int chosen = top_k(select.data(), n, k, eligible.data(), ids);
  float sum = 0;
  for (int j = 0; j < chosen; ++j) sum += weights[j] = probs[ids[j]];
  if (rule.normalize) {
    sum = std::max(sum, 6.103515625e-5f);  // ggml clamps the sum to the smallest normal f16
    for (int j = 0; j < chosen; ++j) weights[j] /= sum;
  }
  if (rule.scale != 1.0f)
    for (int j = 0; j < chosen; ++j) weights[j] *= rule.scale;
  return chosen;
}

}  // namespace

int route(const RouterRule& rule, const float* logits, int64_t n, int k, const uint8_t* allowed, int32_t* ids,
          float* weights, const float* selection_bias) {
  if (selection_bias || rule.n_groups > 1) return route_selected(rule, logits, n, k, allowed, selection_bias, ids, weights);
  const int chosen = top_k(logits, n, k, allowed, ids);  // softmax and sigmoid are monotonic
  if (chosen == 0) return 0;
  if (rule.gating == GatingFn::SOFTMAX && rule.normalize) {
    // Renormalised softmax over the top-k equals the softmax of the chosen logits; computed
    // this way (max-subtracted, summed in double) it matches llama.cpp's Mixtral routing.
    const float max = logits[ids[0]];
    double sum = 0;
    for (int j = 0; j < chosen; ++j) sum += weights[j] = std::exp(logits[ids[j]] - max);
    for (int j = 0; j < chosen; ++j) weights[j] = static_cast<float>(weights[j] / sum);
  } else if (rule.gating == GatingFn::SOFTMAX) {
    // Probabilities over every usable expert, not renormalised after the top-k.
    const float max = logits[ids[0]];
    double sum = 0;
    for (int64_t e = 0; e < n; ++e)
      if (!allowed || allowed[e]) sum += std::exp(static_cast<double>(logits[e]) - max);
    for (int j = 0; j < chosen; ++j) weights[j] = static_cast<float>(std::exp(static_cast<double>(logits[ids[j]]) - max) / sum);
  } else {
    double sum = 0;
    for (int j = 0; j < chosen; ++j) sum += weights[j] = 1.0f / (1.0f + std::exp(-logits[ids[j]]));
    if (rule.normalize)
      for (int j = 0; j < chosen; ++j) weights[j] = static_cast<float>(weights[j] / sum);
  }
  if (rule.scale != 1.0f)
    for (int j = 0; j < chosen; ++j) weights[j] *= rule.scale;
  return chosen;
}

}  // namespace swapmoe
