// The router block: from a token's router logits to its experts and their weights, by the
// model's RouterRule, optionally over a subset of usable experts (SwapMoE's masked gating:
// "mask, then route" with the model's own rule).
#pragma once

#include <cstdint>

#include "model/model_config.h"

namespace swapmoe {

// Chooses up to k of the n experts (only those with allowed[e] != 0 when allowed is given),
// best first (ties: lower index), and their weights. Returns how many were chosen (fewer than k
// only when fewer are allowed, or, with groups, when the chosen groups hold fewer allowed experts).
// selection_bias (n values, may be null: DeepSeek-V3's exp_probs_b) is added to the
// probabilities to choose the experts; the weights are the unbiased probabilities.
int route(const RouterRule& rule, const float* logits, int64_t n, int k, const uint8_t* allowed, int32_t* ids,
          float* weights, const float* selection_bias = nullptr);

}  // namespace swapmoe
