#include "model/router.h"

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

}  // namespace

int route(const RouterRule& rule, const float* logits, int64_t n, int k, const uint8_t* allowed, int32_t* ids,
          float* weights) {
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
