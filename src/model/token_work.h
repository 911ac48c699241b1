// What one token costs in weights: the bytes a decode step of one sequence reads and the
// multiply-adds it does with them. The bench's roofline divides by the first; the forward pass
// uses the second to decide whether a batch is worth splitting across threads.
#pragma once

#include <cstdint>

#include "model/model.h"

namespace swapmoe {

struct TokenWork {
  // Every dense matrix (attention, router, shared experts, dense FFN layers, the output head),
  // one row of the token embedding, and the n_expert_used routed experts of each MoE layer.
  // Norms and biases are counted too (a few KiB).
  uint64_t weight_bytes = 0;
  // The same weights' elements, each one multiply-add, but the embedding row's (a copy).
  uint64_t multiply_adds = 0;
};

TokenWork token_work(const Model& model);

}  // namespace swapmoe
