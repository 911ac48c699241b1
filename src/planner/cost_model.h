// Cost models of the planner: how many expert slots a budget buys (the engine's own accounting)
// and how long a token takes under a configuration (from the device profile).
#pragma once

#include <cstdint>
#include <vector>

namespace swapmoe {

// How the engine splits a memory budget, in bytes. The figures come from the Engine itself
// (EngineOptions::plan_for_budget hands them over), so the planner and the runtime can never
// disagree on what fits.
struct MemorySplit {
  uint64_t fixed = 0;       // dense weights, KV cache, scratch, runtime bookkeeping
  uint64_t staging = 0;     // swapmoe's staging buffers
  uint64_t slot_bytes = 0;  // one expert slot
};

// Expert slots (over all layers) that fit in `budget`; 0 when the fixed part alone exceeds it.
int64_t slots_in_budget(const MemorySplit& m, uint64_t budget);
// Bytes a configuration with n_slots expert slots in total accounts against the budget.
uint64_t bytes_for_slots(const MemorySplit& m, int64_t n_slots);

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

// Slots per MoE layer spread as evenly as the total allows (the uniform allocation), each in
// [1, n_expert]; the first layers get the remainder.
std::vector<int> even_split(int64_t total, int n_layers, int n_expert);

}  // namespace swapmoe
