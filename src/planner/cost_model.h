// Cost models of the planner: how long a token takes under a configuration (from the device
// profile). What a budget buys comes from the memory plan (model/memory_plan.h), as the engine's.
#pragma once

#include <cstdint>
#include <vector>

#include "model/memory_plan.h"  // MemorySplit, slots_in_budget, bytes_for_slots, even_split

namespace swapmoe {

// Per-token time of a configuration, in milliseconds. Swapping runs on a loader thread beside
// the compute, so only the I/O that does not fit under the compute time adds to a token.
struct LatencyFigures {
  double dense_compute_ms = 0;   // attention, router, norms, output per token
  double expert_compute_ms = 0;  // one expert (gate, up, down) for one token
  double expert_load_ms = 0;     // one expert read from storage
  int n_moe_layers = 0;
  int n_expert_used = 0;
  double max_loads_per_token = 1;  // swapmoe starts at most max_loads_per_step loads a token
};
double predict_latency_ms(const LatencyFigures& f, double loads_per_token);

}  // namespace swapmoe
